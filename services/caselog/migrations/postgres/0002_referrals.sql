-- Referrals attached by the gateway: the unit and client that sent them.
ALTER TABLE attached_referrals ADD COLUMN from_unit TEXT NOT NULL DEFAULT '';
ALTER TABLE attached_referrals ADD COLUMN client TEXT NOT NULL DEFAULT '';

-- The attached referral an access row concerns while it is restricted, so
-- the guardians' view can leave out every trace of it until it is lifted.
ALTER TABLE access_log ADD COLUMN restricted_referral TEXT NOT NULL DEFAULT '';
