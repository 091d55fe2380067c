/*
 * tests/elasticsearch/CdcEsNode.java: one Elasticsearch 8.x or 9.x node
 * inside this JVM, for the tests.  tests/services.sh compiles it against
 * the jars it fetched from Maven Central and runs it as
 *
 *   java --module-path SERVER-JARS --add-modules ALL-MODULE-PATH \
 *        -cp CLASSES CdcEsNode HOME CONFIG MODULES
 *
 * HOME is path.home (the node's data and logs go below it unless
 * CONFIG/elasticsearch.yml says otherwise), CONFIG the directory holding
 * elasticsearch.yml, MODULES a directory of Elasticsearch modules laid out
 * as in the distribution (MODULES/transport-netty4/ with its jars and
 * plugin-descriptor.properties): the HTTP layer is a module, not part of
 * the server jar.
 *
 * This is what org.elasticsearch.bootstrap.Elasticsearch does, less what a
 * throwaway test node does not need: no server-cli handshake on stdin, no
 * keystore, no SecurityManager or entitlements, no native controller, no
 * bootstrap checks (they are only warnings for a node bound to loopback).
 * X-Pack is not on the module path, so there is no security, no TLS and no
 * licence: plain HTTP without authentication.
 *
 * On start it prints "cdc-es-node: http HOST:PORT" (the address it bound)
 * on stdout; on SIGTERM it closes the node (flushing its shards) and exits
 * 0.  Any failure to start prints the exception and exits 1.
 */

import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginBundle;
import org.elasticsearch.plugins.PluginsLoader;

public final class CdcEsNode {
	private CdcEsNode() {
	}

	public static void main(String[] args) {
		if (args.length != 3) {
			System.err.println("usage: CdcEsNode HOME CONFIG MODULES");
			System.exit(2);
		}
		try {
			run(Path.of(args[0]), Path.of(args[1]), Path.of(args[2]));
		} catch (Throwable t) {
			System.err.println("cdc-es-node: cannot start: " + t);
			t.printStackTrace();
			System.err.flush();
			// halt, not exit: the node's non-daemon threads must not keep
			// a half-started JVM alive.
			Runtime.getRuntime().halt(1);
		}
	}

	private static void run(Path home, Path config, Path modules) throws Exception {
		// Elasticsearch's own logging facade must exist before the first
		// class that logs (reading the settings already does).
		LogConfigurator.configureESLogging();
		Settings input = Settings.builder().put("path.home", home.toString()).build();
		// Reads CONFIG/elasticsearch.yml, as the real node does.
		Environment env = InternalSettingsPreparer.prepareEnvironment(input, Map.of(), config, () -> "cdc-es");
		LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(env.settings()));
		LogConfigurator.configureWithoutConfig(env.settings());

		PluginsLoader loader = PluginsLoader.createPluginsLoader(loadModules(modules), Set.of(), Map.of());
		Node node = new Node(env, loader);

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

		// The node's own threads are daemons: keep the JVM up until a
		// signal runs the shutdown hook.
		stopped.await();
	}

	/*
	 * PluginsLoader.loadModulesBundles(Path) in 8.x;
	 * loadModulesBundles(Path, boolean serverless) in 9.x.
	 */
	@SuppressWarnings("unchecked")
	private static Set<PluginBundle> loadModules(Path dir) throws Exception {
		for (Method m : PluginsLoader.class.getMethods()) {
			if (!m.getName().equals("loadModulesBundles")) {
				continue;
			}
			Class<?>[] p = m.getParameterTypes();
			if (p.length == 1 && p[0] == Path.class) {
				return (Set<PluginBundle>) m.invoke(null, dir);
			}
			if (p.length == 2 && p[0] == Path.class && p[1] == boolean.class) {
				return (Set<PluginBundle>) m.invoke(null, dir, false);
			}
		}
		throw new IllegalStateException("this Elasticsearch has no PluginsLoader.loadModulesBundles we know");
	}
}
