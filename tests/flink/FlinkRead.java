/*
 * FlinkRead: Flink's own readers of the canal-json, maxwell-json and
 * debezium-json formats (flink-json, tests/flink/pom.xml) over lines on
 * standard input, for tests/flink-formats.t.
 *
 *   java -cp LIB/*:CLASSES FlinkRead FORMAT COLUMN:TYPE...
 *
 * FORMAT: canal, maxwell or debezium; TYPE: BIGINT, STRING or DOUBLE.  For
 * each line, prints the rows the reader gives, one per line, as Flink
 * prints them (+I(1,paid), -U(...), +U(...), -D(...)), then "." ; or
 * "ERROR: message" when the reader rejects the line.
 */
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.io.BufferedReader;
import java.io.InputStreamReader;

import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.canal.CanalJsonDeserializationSchema;
import org.apache.flink.formats.json.debezium.DebeziumJsonDeserializationSchema;
import org.apache.flink.formats.json.maxwell.MaxwellJsonDeserializationSchema;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.util.Collector;
import org.apache.flink.util.UserCodeClassLoader;

public class FlinkRead {
	/* The readers keep it only to hand it back: a stub will do. */
	static final class RowInfo extends TypeInformation<RowData> {
		public boolean isBasicType() { return false; }
		public boolean isTupleType() { return false; }
		public int getArity() { return 1; }
		public int getTotalFields() { return 1; }
		public Class<RowData> getTypeClass() { return RowData.class; }
		public boolean isKeyType() { return false; }
		public TypeSerializer<RowData> createSerializer(ExecutionConfig c) { throw new UnsupportedOperationException(); }
		public String toString() { return "RowData"; }
		public boolean equals(Object o) { return o instanceof RowInfo; }
		public int hashCode() { return 1; }
		public boolean canEqual(Object o) { return o instanceof RowInfo; }
	}

	@SuppressWarnings({"unchecked", "rawtypes"})
	public static void main(String[] args) throws Exception {
		List<DataTypes.Field> fields = new ArrayList<>();
		for (int i = 1; i < args.length; i++) {
			String[] nt = args[i].split(":");
			DataType t = nt[1].equals("BIGINT") ? DataTypes.BIGINT()
				: nt[1].equals("DOUBLE") ? DataTypes.DOUBLE() : DataTypes.STRING();
			fields.add(DataTypes.FIELD(nt[0], t));
		}
		DataType row = DataTypes.ROW(fields.toArray(new DataTypes.Field[0]));
		List none = Collections.emptyList();
		DeserializationSchema<RowData> schema;
		switch (args[0]) {
		case "canal":
			schema = CanalJsonDeserializationSchema.builder(row, none, new RowInfo())
				.setTimestampFormat(TimestampFormat.SQL).build();
			break;
		case "maxwell":
			schema = new MaxwellJsonDeserializationSchema(row, none, new RowInfo(), false, TimestampFormat.SQL);
			break;
		default:
			schema = new DebeziumJsonDeserializationSchema(row, none, new RowInfo(), false, false, TimestampFormat.SQL);
		}
		schema.open(new DeserializationSchema.InitializationContext() {
			public MetricGroup getMetricGroup() { return null; }
			public UserCodeClassLoader getUserCodeClassLoader() { return null; }
		});
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		StringBuilder out = new StringBuilder();
		for (String line; (line = in.readLine()) != null; ) {
			List<RowData> rows = new ArrayList<>();
			try {
				schema.deserialize(line.getBytes(StandardCharsets.UTF_8), new Collector<RowData>() {
					public void collect(RowData r) { rows.add(r); }
					public void close() { }
				});
				for (RowData r : rows)
					out.append(r.toString()).append('\n');
				out.append(".\n");
			} catch (Exception e) {
				Throwable c = e;
				while (c.getCause() != null)
					c = c.getCause();
				out.append("ERROR: ").append(e.getMessage().split("\n")[0]).append('\n');
			}
		}
		System.out.print(out);
	}
}
