-- 0020: what the console keeps beyond the event log.
--
-- admin_states: an element's operator-set admin state (draining or maintenance) outlives its registration
-- and the registrar's run: it is re-applied when the element registers again, and a drained element never
-- becomes ready by itself. Ready is the absence of a row. Written by the history writer in the same
-- transaction as the audit row of the command that set it.
CREATE TABLE admin_states (
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  pe_id INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draining', 'maintenance')),
  reason TEXT NOT NULL,
  actor TEXT NOT NULL,
  since INTEGER NOT NULL,
  PRIMARY KEY (pool_id, pe_id)
) WITHOUT ROWID;

-- api_tokens: bearer tokens of the LAN console. Only a SHA-256 of each token is kept; the token itself is
-- shown once, when it is created.
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
  label TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);
