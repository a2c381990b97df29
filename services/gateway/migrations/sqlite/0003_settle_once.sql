-- The relay log a settle decided to attach a pending referral to, recorded
-- before it asks the relay log, so that every later settle of the same
-- referral (a retried create, the sweep, another replica) follows that one
-- decision instead of making its own.
ALTER TABLE referrals ADD COLUMN settle_log TEXT NOT NULL DEFAULT '';
