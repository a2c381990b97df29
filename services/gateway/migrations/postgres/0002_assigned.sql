-- A unit's level-0 work list: referrals assigned to it from intake.
CREATE INDEX referrals_assigned ON referrals (assigned_unit, placement, id);
