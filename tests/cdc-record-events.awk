# cdc-record-events.awk: contract-shaped change events for the cdc-record and
# cdc-replay tests and benchmarks, in position order, deterministic.
#
#   awk -v n=COUNT [-v start_lsn=L] [-v start_ts=MS] [-v pad=BYTES] -f cdc-record-events.awk
#
# Transactions of 1-5 events on three tables (orders, customers, items) with
# ops c/u/d; commit LSNs grow, seq counts inside a transaction, source.ts_ms
# (commit time) grows by 0-2 s per transaction.  Numbers are printed with
# %.0f: mawk's %d stops at 2^31.
BEGIN {
	srand(42)
	lsn = start_lsn ? start_lsn : 23000000
	ts = start_ts ? start_ts : 1763700000000
	padding = ""
	for (i = 0; i < pad; i++)
		padding = padding "x"
	tables[0] = "orders"; tables[1] = "customers"; tables[2] = "items"
	ops[0] = "c"; ops[1] = "u"; ops[2] = "d"
	i = 0
	tx = 700
	while (i < n) {
		k = 1 + int(rand() * 5)
		lsn += 1000 + int(rand() * 5000)
		ts += int(rand() * 2000)
		tx++
		for (s = 1; s <= k && i < n; s++) {
			t = tables[int(rand() * 3)]
			op = ops[int(rand() * 3)]
			id = int(rand() * 100000)
			before = op == "c" ? "null" : "{\"id\":" id ",\"status\":\"new\"}"
			after = op == "d" ? "null" : "{\"id\":" id ",\"status\":\"paid\",\"note\":\"n" int(rand() * 1e9) padding "\",\"amount\":\"" int(rand() * 10000) ".45\"}"
			printf "{\"op\":\"%s\",\"before\":%s,\"after\":%s,\"key\":{\"id\":%d},\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"shop\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"%s\",\"txId\":%d,\"lsn\":%.0f,\"commit_lsn\":%.0f,\"seq\":%d,\"ts_ms\":%.0f,\"snapshot\":\"false\"},\"ts_ms\":%.0f}\n", \
				op, before, after, id, t, tx, lsn - 500 + s, lsn, s, ts, ts + 100
			i++
		}
	}
}
