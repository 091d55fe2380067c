/*
 * tests/elasticsearch/CdcEs7Node.java: one Elasticsearch 7.17 node inside
 * this JVM, for the tests.  tests/services.sh compiles it against the jars
 * it fetched from Maven Central and runs it as
 *
 *   java -cp 'JARS/*:CLASSES' CdcEs7Node HOME CONFIG
 *
 * HOME is path.home, CONFIG the directory holding elasticsearch.yml.
 * Elasticsearch 7 is not modular: the server, the HTTP layer
 * (transport-netty4-client) and reindex (reindex-client: _delete_by_query,
 * _update_by_query, _reindex) all sit on the class path, and the node is
 * given the last two as class-path plugins through Node's protected
 * constructor, as Elasticsearch's own integration tests do.
 *
 * No SecurityManager, no bootstrap checks, no X-Pack (so no security and no
 * licence).  On start it prints "cdc-es-node: http HOST:PORT" on stdout;
 * on SIGTERM it closes the node and exits 0; a failure to start prints the
 * exception and exits 1.
 */

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.reindex.ReindexPlugin;
import org.elasticsearch.transport.Netty4Plugin;

public final class CdcEs7Node extends Node {
	private static final Collection<Class<? extends Plugin>> PLUGINS = List.of(Netty4Plugin.class, ReindexPlugin.class);

	private CdcEs7Node(Environment env) {
		super(env, PLUGINS, true);
	}

	public static void main(String[] args) {
		if (args.length != 2) {
			System.err.println("usage: CdcEs7Node HOME CONFIG");
			System.exit(2);
		}
		try {
			run(Path.of(args[0]), Path.of(args[1]));
		} catch (Throwable t) {
			System.err.println("cdc-es-node: cannot start: " + t);
			t.printStackTrace();
			System.err.flush();
			Runtime.getRuntime().halt(1);
		}
	}

	private static void run(Path home, Path config) throws Exception {
		Settings input = Settings.builder().put("path.home", home.toString()).build();
		// Reads CONFIG/elasticsearch.yml, as the real node does.
		Environment env = InternalSettingsPreparer.prepareEnvironment(input, Map.of(), config, () -> "cdc-es");
		LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(env.settings()));
		LogConfigurator.configureWithoutConfig(env.settings());

		Node node = new CdcEs7Node(env);
		CountDownLatch stopped = new CountDownLatch(1);
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			try {
				node.close();
				node.awaitClose(20, TimeUnit.SECONDS);
			} catch (Exception e) {
				System.err.println("cdc-es-node: error while closing: " + e);
			} finally {
				stopped.countDown();
			}
		}, "cdc-es-node-shutdown"));

		node.start();
		HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
		System.out.println("cdc-es-node: http " + http.boundAddress().publishAddress());
		System.out.flush();
		stopped.await();
	}
}
