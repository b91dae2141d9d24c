#include <fstream>
#include <string>
#include <vector>

/**
 * Returns the largest value of a non-empty vector.
 */
int largest(const std::vector<int>& xs) {
    int best = xs[0];
    for (int x : xs) best = x > best ? x : best;
    return best;
}

namespace text {
/// Repeats a string `n` times and returns the result.
std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}
}  // namespace text

/** Returns the smaller of two values of any type. */
template <typename T>
T smaller(T a, T b) {
    return a < b ? a : b;
}

/** Prints nothing and returns nothing to the caller. */
void nothing(int a) {
    (void)a;
}

/** Returns a constant and takes no arguments (void). */
int constant(void) {
    return 7;
}

/** Reads the first line of a file from the disk. */
std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

/** Runs a command through the shell and returns its status. */
int run(const char* command) {
    return system(command);
}

int undocumented(int a) {
    return a;
}
