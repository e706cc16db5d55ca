-- A delivery leased in its own enqueue (ADR 0031, domain/mailbox_rules.py leasable):
-- the enqueue leases a new delivery only when none of the member's older deliveries
-- waits for a claim: unleased, or under a lease that ran out. This index finds those
-- rows by (member, lease end), so that check is a probe that finds nothing in the
-- common case, instead of a walk over the member's mail in flight (deliveries_queue
-- holds those too).
CREATE INDEX deliveries_waiting ON mesh.deliveries (member_id, lease_until);
