import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;

/** Reads one timestamp per line; prints its microseconds since the epoch, as Java reads it
 * with both Instant.parse and OffsetDateTime.parse (they must agree). */
public final class ParseInstants {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            Instant instant = Instant.parse(line);
            Instant offset = OffsetDateTime.parse(line).toInstant();
            if (!instant.equals(offset)) {
                throw new IllegalStateException("Instant and OffsetDateTime disagree on " + line);
            }
            System.out.println(ChronoUnit.MICROS.between(Instant.EPOCH, instant));
        }
    }
}
