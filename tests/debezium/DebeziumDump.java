/*
 * DebeziumDump: run the real Debezium embedded engine (PostgreSQL connector)
 * and write every record it produces as one JSON line, for the parity test
 * (tests/debezium-parity.t) and the throughput peer (tests/bench/debezium.sh).
 *
 *   java -cp "$CACHE/lib/*:$CACHE/classes" DebeziumDump STATUS [--exit-after N] \
 *        NAME PROPS OUT [NAME PROPS OUT]...
 *
 * Each NAME PROPS OUT triple is one engine in this JVM (one JVM start for
 * several configurations): PROPS is a Java properties file with the
 * engine's and the connector's settings, OUT receives each record's value
 * as serialized by the engine's JSON format (Kafka Connect's JsonConverter;
 * "null" for a tombstone), one per line, and OUT.keys the record keys, line
 * for line (OUT /dev/null: both there).  STATUS gets "started NAME" once
 * the engine's task runs (the replication slot exists then), "first NAME
 * MS" when the first record arrives (wall clock, ms), "count NAME N" every
 * second, "stopped NAME" / "failed NAME: reason" when an engine ends, and
 * "end MS" when the program is done.
 *
 * --exit-after N: exit once every engine has written N records (for the
 * benchmark).  Otherwise the engines run until SIGTERM or SIGINT; the
 * shutdown hook closes them, which flushes the output files.
 */
import java.io.BufferedWriter;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;

public final class DebeziumDump {
	private static PrintWriter status;
	private static volatile boolean failed;
	private static long exitAfter = -1;
	/* Counted down by each engine once it has written exitAfter records. */
	private static CountDownLatch reached;

	private static synchronized void say(String line) {
		status.println(line);
		status.flush();
	}

	private static final class Run {
		final String name;
		final Writer out, keys;
		final AtomicLong count = new AtomicLong();
		DebeziumEngine<ChangeEvent<String, String>> engine;

		Run(String name, String outPath) throws IOException {
			this.name = name;
			this.out = new BufferedWriter(new OutputStreamWriter(new FileOutputStream(outPath),
									   StandardCharsets.UTF_8), 1 << 16);
			String keysPath = outPath.equals("/dev/null") ? outPath : outPath + ".keys";

			this.keys = new BufferedWriter(new OutputStreamWriter(new FileOutputStream(keysPath),
									   StandardCharsets.UTF_8), 1 << 16);
		}

		synchronized void write(List<ChangeEvent<String, String>> records,
					DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer)
			throws InterruptedException {
			if (count.get() == 0 && !records.isEmpty())
				say("first " + name + " " + System.currentTimeMillis());
			try {
				for (ChangeEvent<String, String> r : records) {
					String v = r.value(), k = r.key();
					out.write(v == null ? "null" : v);
					out.write('\n');
					keys.write(k == null ? "null" : k);
					keys.write('\n');
					committer.markProcessed(r);
				}
				out.flush();
				keys.flush();
			} catch (IOException e) {
				throw new RuntimeException(e);
			}
			long before = count.getAndAdd(records.size());
			if (exitAfter >= 0 && before < exitAfter && before + records.size() >= exitAfter)
				reached.countDown();
			committer.markBatchFinished();
		}

		synchronized void close() {
			try {
				out.close();
				keys.close();
			} catch (IOException e) {
				say("failed " + name + ": " + e);
			}
		}
	}

	public static void main(String[] args) throws Exception {
		if (args.length < 4) {
			System.err.println("usage: DebeziumDump STATUS [--exit-after N] NAME PROPS OUT [NAME PROPS OUT]...");
			System.exit(2);
		}
		status = new PrintWriter(new OutputStreamWriter(new FileOutputStream(args[0], true), StandardCharsets.UTF_8));
		int i = 1;
		if (args[i].equals("--exit-after")) {
			exitAfter = Long.parseLong(args[i + 1]);
			i += 2;
		}
		if ((args.length - i) % 3 != 0) {
			System.err.println("DebeziumDump: engines come as NAME PROPS OUT triples");
			System.exit(2);
		}
		List<Run> runs = new ArrayList<>();
		ExecutorService pool = Executors.newCachedThreadPool();
		CountDownLatch finished = new CountDownLatch((args.length - i) / 3);
		reached = new CountDownLatch(exitAfter >= 0 ? (args.length - i) / 3 : 1);
		for (; i < args.length; i += 3) {
			Properties p = new Properties();
			try (FileInputStream in = new FileInputStream(args[i + 1])) {
				p.load(in);
			}
			Run run = new Run(args[i], args[i + 2]);
			p.setProperty("name", run.name);
			run.engine = DebeziumEngine.create(Json.class)
				.using(p)
				.using(new DebeziumEngine.ConnectorCallback() {
					@Override
					public void taskStarted() {
						say("started " + run.name);
					}
				})
				.using((success, message, error) -> {
					if (!success)
						failed = true;
					say((success ? "stopped " : "failed ") + run.name + (success ? "" : ": " + message +
						(error != null ? " (" + error + ")" : "")));
					finished.countDown();
				})
				.notifying(run::write)
				.build();
			runs.add(run);
		}
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			for (Run r : runs) {
				try {
					r.engine.close();
				} catch (IOException e) {
					say("failed " + r.name + ": close: " + e);
				}
			}
			pool.shutdown();
			try {
				pool.awaitTermination(60, TimeUnit.SECONDS);
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
			for (Run r : runs)
				r.close();
		}));
		for (Run r : runs)
			pool.execute(r.engine);
		long last = -1, lastReport = 0;
		for (;;) {
			boolean done = reached.await(50, TimeUnit.MILLISECONDS) || finished.getCount() == 0;
			long now = System.currentTimeMillis();
			if (done || now - lastReport >= 1000) {
				StringBuilder sb = new StringBuilder();
				long sum = 0;
				for (Run r : runs) {
					long n = r.count.get();
					sb.append("count ").append(r.name).append(' ').append(n).append('\n');
					sum += n;
				}
				if (sum != last) {
					say(sb.toString().trim());
					last = sum;
				}
				lastReport = now;
			}
			if (done) {
				say("end " + now);
				break;
			}
		}
		/* Every engine stopped by itself (a failure, or snapshot.mode
		 * initial_only done) or --exit-after is met: the shutdown hook
		 * closes what is left. */
		System.exit(failed ? 1 : 0);
	}
}
