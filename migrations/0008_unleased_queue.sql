-- A delivery leased in its own enqueue (ADR 0031, domain/mailbox_rules.py leasable):
-- the enqueue leases a new delivery only when none of the member's older deliveries
-- is waiting unleased for a claim. This index holds exactly those waiting rows, so
-- that check is a probe that finds nothing in the common case, instead of a walk
-- over the member's mail in flight (deliveries_queue holds those too). Rows inserted
-- already leased never enter it.
CREATE INDEX deliveries_unleased ON mesh.deliveries (member_id, seq) WHERE leased_to IS NULL;
