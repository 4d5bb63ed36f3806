-- 0030: what happened around this registrar beyond its own pools: peer registrars (ENRP: peers coming and
-- going, takeovers, resynchronisations) and components reporting over RSPLIB's Component Status Protocol
-- (arrivals, departures, workload changes). One row per event, its details as JSON; kept as long as element
-- events (retention.ts).
CREATE TABLE deployment_events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  run_id INTEGER REFERENCES registrar_runs (id),
  -- 'enrp' or 'csp'
  source TEXT NOT NULL,
  -- enrp: peerUp, peerDown, takeoverStarted, takeoverCompleted, takeoverAborted, takenOverByPeer,
  -- resyncStarted, resyncCompleted, synced; csp: componentArrived, componentDeparted, componentWorkload
  event TEXT NOT NULL,
  -- the peer registrar or the component, as `0x` hex
  subject TEXT,
  details TEXT
);
CREATE INDEX deployment_events_time ON deployment_events (time, id);
