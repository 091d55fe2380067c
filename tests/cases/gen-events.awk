# tests/cases/gen-events.awk: N realistic change events (cdc-events(7)), about
# 450 bytes each: inserts, updates (the old key only, or the full old row for
# orders), deletes and a heartbeat every 100 events, over four tables in two
# schemas.  Deterministic (fixed seed).
#   awk -v n=200000 -f tests/cases/gen-events.awk >events.ndjson
BEGIN {
	srand(42);
	split("orders customers order_items payments", tabs, " ");
	split("new paid shipped cancelled draft", st, " ");
	lsn = 23879872; ts = 1763700000000; tx = 758;
	for (i = 1; i <= n; i++) {
		lsn += 120 + int(rand() * 400); ts += int(rand() * 5);
		if (i % 100 == 0) {
			printf "{\"op\":\"heartbeat\",\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"shop\",\"db\":\"shop\",\"lsn\":%d,\"commit_lsn\":%d,\"seq\":0,\"ts_ms\":%.0f,\"snapshot\":\"false\"},\"ts_ms\":%.0f}\n", lsn, lsn, ts, ts + 3;
			continue;
		}
		if (i % 4 == 1) tx++;
		t = tabs[1 + int(rand() * 4)];
		schema = rand() < 0.8 ? "public" : "sales";
		r = rand(); op = r < 0.4 ? "c" : (r < 0.88 ? "u" : "d");
		id = 1 + int(rand() * 1000000); cust = 1 + int(rand() * 50000);
		s = st[1 + int(rand() * 5)]; amt = sprintf("%d.%02d", int(rand() * 5000), int(rand() * 100));
		row = sprintf("{\"id\":%d,\"customer_id\":%d,\"status\":\"%s\",\"amount\":\"%s\",\"currency\":\"EUR\",\"created_at\":\"2025-11-%02dT%02d:%02d:%02d.%06dZ\",\"note\":\"order note %d\",\"paid\":%s,\"items\":%d}",
			id, cust, s, amt, 1 + int(rand() * 28), int(rand() * 24), int(rand() * 60), int(rand() * 60), int(rand() * 1000000), id % 97, rand() < 0.5 ? "true" : "false", 1 + int(rand() * 9));
		key = sprintf("{\"id\":%d}", id);
		if (op == "c") { before = "null"; after = row }
		else if (op == "u") { before = (t == "orders") ? sprintf("{\"id\":%d,\"customer_id\":%d,\"status\":\"new\",\"amount\":\"%s\",\"currency\":\"EUR\",\"paid\":false,\"items\":1}", id, cust, amt) : "null"; after = row }
		else { before = key; after = "null" }
		printf "{\"op\":\"%s\",\"before\":%s,\"after\":%s,\"key\":%s,\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"shop\",\"db\":\"shop\",\"schema\":\"%s\",\"table\":\"%s\",\"txId\":%d,\"lsn\":%d,\"commit_lsn\":%d,\"seq\":%d,\"ts_ms\":%.0f,\"snapshot\":\"false\"},\"ts_ms\":%.0f}\n",
			op, before, after, key, schema, t, tx, lsn, lsn + 300, 1 + (i % 4), ts, ts + 40;
	}
}
