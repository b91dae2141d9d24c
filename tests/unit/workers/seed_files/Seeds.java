import java.util.List;
import java.util.Map;
import java.nio.file.Files;
import java.nio.file.Path;

/** Small helpers. */
public class Seeds {
    /**
     * Returns the sum of the integers of a list.
     *
     * @param xs the numbers
     */
    public static int sum(List<Integer> xs) {
        int total = 0;
        for (int x : xs) {
            total += x;
        }
        return total;
    }

    /** An instance method: not a free function, so it is skipped. */
    public int instance(int a) {
        return a;
    }

    /** Prints a number and returns nothing at all. */
    static void print(int a) {
        System.out.println(a);
    }

    /** Returns a random constant without any arguments. */
    static int constant() {
        return 4;
    }

    /** Reads all the lines of a file from the disk. */
    static List<String> lines(String name) throws Exception {
        return Files.readAllLines(Path.of(name));
    }

    /** Stops the program with the status given here. */
    static int stop(int status) {
        System.exit(status);
        return status;
    }

    static int undocumented(int a) {
        return a;
    }
}
