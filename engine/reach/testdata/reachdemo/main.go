// Command reachdemo is a tiny program used to exercise govulncheck's
// reachability analysis against an offline vulnerability database.
//
//   - golang.org/x/text v0.3.7: language.ParseAcceptLanguage is CALLED
//     (vulnerable symbol of GO-2022-1059, fixed in v0.3.8).
//   - gopkg.in/yaml.v2 v2.2.2: the package is imported, but only
//     yaml.Marshal is called; the vulnerable Unmarshal/Decoder.Decode of
//     GO-2020-0036, GO-2021-0061, GO-2022-0956 are NOT called.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
	"gopkg.in/yaml.v2"
)

func main() {
	accept := "en-US,en;q=0.9,fr;q=0.8"
	if len(os.Args) > 1 {
		accept = os.Args[1]
	}
	tags, q, err := language.ParseAcceptLanguage(accept)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parse:", err)
		os.Exit(1)
	}
	out, err := yaml.Marshal(map[string]interface{}{"tags": fmt.Sprint(tags), "q": q})
	if err != nil {
		fmt.Fprintln(os.Stderr, "marshal:", err)
		os.Exit(1)
	}
	fmt.Print(string(out))
}
