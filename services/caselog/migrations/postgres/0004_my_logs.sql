-- "My logs": the logs a professional holds, takes part in (for their unit,
-- named or as the whole unit) or is offered, each found by an index
-- instead of a scan of the municipality's logs.
CREATE INDEX participants_by_unit ON participants (tenant, unit, professional, case_log) WHERE removed = FALSE;
CREATE INDEX handovers_offered_to ON handovers (tenant, to_professional) WHERE state = 'HANDOVER_STATE_OFFERED';
