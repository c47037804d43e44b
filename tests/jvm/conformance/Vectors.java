import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

/**
 * The conformance vectors (schemas/vectors) checked with Apache Avro's Java implementation:
 * for each, the schema's parsing fingerprint, the record its Avro-JSON event decodes to, the
 * exact single-object bytes Java writes for it (map entries in key order), and that Java
 * reads those bytes back to the same record. Usage: java -cp CLASSPATH Vectors.java SCHEMAS_DIR. Prints "ok N".
 */
public final class Vectors {
    public static void main(String[] args) throws Exception {
        Path schemas = Path.of(args[0]);
        ObjectMapper json = new ObjectMapper();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(schemas.resolve("vectors"))) {
            files = walk.filter(p -> p.toString().endsWith(".json")).sorted()
                    .collect(Collectors.toList());
        }
        int checked = 0;
        for (Path file : files) {
            JsonNode vector = json.readTree(file.toFile());
            String name = vector.get("schema").asText();
            int version = vector.get("version").asInt();
            Schema schema = new Schema.Parser().parse(
                    schemas.resolve(name).resolve("v" + version + ".avsc").toFile());
            long fingerprint = SchemaNormalization.parsingFingerprint64(schema);
            byte[] little = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                    .putLong(fingerprint).array();
            String expectedFingerprint = vector.get("fingerprint").asText();
            check(file, "fingerprint", expectedFingerprint, HexFormat.of().formatHex(little));

            // Maps are written in ascending key order (UTF-8 bytes: Utf8's order), as the
            // contract says, so an event has one encoding.
            // (Avro's fast reader builds its own HashMaps: the plain reader calls newMap.)
            GenericData data = new GenericData();
            data.setFastReaderEnabled(false);
            GenericDatumReader<GenericRecord> reader = new GenericDatumReader<>(schema, schema,
                    data) {
                @Override
                protected Object newMap(Object old, int size) {
                    return new TreeMap<>();
                }
            };
            GenericRecord record = reader.read(null, DecoderFactory.get().jsonDecoder(
                    schema, json.writeValueAsString(vector.get("event"))));
            BinaryMessageEncoder<GenericRecord> encoder =
                    new BinaryMessageEncoder<>(GenericData.get(), schema);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            encoder.encode(record, out);
            String hex = HexFormat.of().formatHex(out.toByteArray());
            check(file, "single-object bytes", vector.get("single_object_hex").asText(), hex);

            BinaryMessageDecoder<GenericRecord> decoder =
                    new BinaryMessageDecoder<>(GenericData.get(), schema);
            GenericRecord back = decoder.decode(HexFormat.of().parseHex(hex));
            if (!back.equals(record)) {
                throw new AssertionError(file + ": the bytes do not read back to the record");
            }
            checked++;
        }
        if (checked == 0) {
            throw new AssertionError("no vectors under " + schemas.resolve("vectors"));
        }
        System.out.println("ok " + checked);
    }

    private static void check(Path file, String what, String expected, String found) {
        if (!expected.equals(found)) {
            throw new AssertionError(file + ": " + what + " differs\n expected " + expected
                    + "\n found    " + found);
        }
    }
}
