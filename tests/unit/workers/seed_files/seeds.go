package seeds

import (
	"os"
	"strings"
)

// Reverse returns the words of s in reverse order,
// joined by single spaces.
func Reverse(s string) string {
	words := strings.Fields(s)
	for i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {
		words[i], words[j] = words[j], words[i]
	}
	return strings.Join(words, " ")
}

// Show prints the value and has no results at all.
func Show(v int) {
	println(v)
}

// Len is a method, and methods are not seeds.
func (s Stack) Len() int { return len(s) }

// Answer returns forty-two and takes no arguments.
func Answer() int { return 42 }

// Home returns the home directory from the environment.
func Home(user string) string { return os.Getenv("HOME") + user }

func Undocumented(a int) int { return a }
