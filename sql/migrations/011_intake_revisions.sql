-- Platform items edited after they were ingested are stored as revisions whose payload names the
-- original (`update_of`, see feedback.channels.platform_ingest). Finding an item's revisions must
-- be an index lookup, not a scan of intake, or each page of a large pull gets slower than the last.
CREATE INDEX intake_update_of_idx ON intake (channel, (payload->>'update_of')) WHERE payload ? 'update_of';
