-- What the unease is about (ConcernArea, stored by name), given when the log
-- is opened; the scheduling service derives the guardian-contact deadline
-- from it.
ALTER TABLE case_logs ADD COLUMN concern_area TEXT NOT NULL DEFAULT 'CONCERN_AREA_UNSPECIFIED';

-- Whether the former holder leaves the log when this offer is accepted (by
-- default she stays on as a participant for her unit).
ALTER TABLE handovers ADD COLUMN release_former_holder BOOLEAN NOT NULL DEFAULT FALSE;
