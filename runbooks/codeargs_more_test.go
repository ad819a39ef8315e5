package runbooks

import (
	"fmt"
	"strings"
	"testing"
)

// TestLoadRefusesTemplatesInCommandTools: beyond shells and interpreters,
// tools that hand a string to a shell or run program text of their own
// (ssh, watch, flock -c, script -c, awk, sed, psql -c, mysql -e) refuse a
// template in that text, and argv[0] is never a template.
func TestLoadRefusesTemplatesInCommandTools(t *testing.T) {
	const tpl = "{{ .Params.x }}"
	tests := []struct {
		name string
		run  []string
		bad  int    // index of the refused argument; -1 when the step is fine
		msg  string // what the problem says
	}{
		{"argv[0]", []string{tpl, "status"}, 0, "is the program to run and must not be a template"},
		{"argv[0] partly", []string{"/usr/bin/" + tpl}, 0, "is the program to run"},

		{"bash -c attached", []string{"bash", "-c" + tpl}, 1, "bash options"},
		{"sh -o value", []string{"sh", "-o", tpl, "/opt/x.sh"}, 2, "sh options"},
		{"bash --rcfile", []string{"bash", "--rcfile", tpl}, 2, "program text"},
		{"sh script argument", []string{"sh", "/opt/x.sh", "-c" + tpl}, -1, ""},

		{"ssh remote command", []string{"ssh", "host1", "systemctl restart " + tpl}, 2, "ssh's options or remote command"},
		{"ssh remote argument", []string{"ssh", "host1", "systemctl", "restart", tpl}, 4, "program text"},
		{"ssh -p then command", []string{"ssh", "-p", "2222", "host1", "ls", tpl}, 5, "program text"},
		{"ssh -o value", []string{"ssh", "-o", tpl, "host1", "uptime"}, 2, "program text"},
		{"ssh -o attached", []string{"ssh", "-oProxyCommand=" + tpl, "host1", "uptime"}, 1, "program text"},
		{"ssh option", []string{"ssh", tpl, "host1"}, -1, ""}, // value becomes the destination: allowed (a leading - is refused by Bind)
		{"ssh -- host command", []string{"ssh", "--", "host1", "echo " + tpl}, 3, "program text"},
		{"sudo ssh", []string{"sudo", "-u", "ops", "ssh", "host1", tpl}, 5, "program text"},
		{"ssh templated destination", []string{"ssh", "-p", "22", tpl, "uptime"}, -1, ""},

		{"watch command", []string{"watch", "-n1", "ls " + tpl}, 2, "watch's command"},
		{"watch -n value command args", []string{"watch", "-n", "2", "ls", tpl}, 4, "program text"},
		{"watch -- command", []string{"watch", "--", "echo", tpl}, 3, "program text"},

		{"flock -c", []string{"flock", "/tmp/l", "-c", "ls " + tpl}, 3, "flock -c"},
		{"flock -w -c", []string{"flock", "-w", "5", "/tmp/l", "--command", "ls " + tpl}, 5, "program text"},
		{"flock exec form", []string{"flock", "/tmp/l", "ls", tpl}, -1, ""},

		{"script -c", []string{"script", "-c", "echo " + tpl, "/dev/null"}, 2, "script -c"},
		{"script -qc", []string{"script", "-qc", "echo " + tpl, "/dev/null"}, 2, "program text"},
		{"script file then -c", []string{"script", "/dev/null", "--command", "echo " + tpl}, 3, "program text"},
		{"script log file", []string{"script", "-q", tpl}, -1, ""},

		{"awk program", []string{"awk", `BEGIN{print "` + tpl + `"}`}, 1, "awk's program"},
		{"awk -F program", []string{"awk", "-F", ":", "{print $1, \"" + tpl + "\"}", "/etc/passwd"}, 3, "program text"},
		{"gawk -e", []string{"gawk", "-e", tpl}, 2, "program text"},
		{"mawk program", []string{"mawk", tpl}, 1, "program text"},
		{"awk -v value is data", []string{"awk", "-v", "x=" + tpl, "{print x}"}, -1, ""},
		{"awk -f file then data", []string{"awk", "-f", "/opt/x.awk", tpl}, -1, ""},
		{"awk program then file", []string{"awk", "{print}", tpl}, -1, ""},

		{"sed -e", []string{"sed", "-e", "s/x/" + tpl + "/", "/etc/hosts"}, 2, "sed's script"},
		{"sed script operand", []string{"sed", "s/x/" + tpl + "/", "/etc/hosts"}, 1, "program text"},
		{"sed -n script operand", []string{"sed", "-n", tpl + "p", "/etc/hosts"}, 2, "program text"},
		{"sed -ne", []string{"sed", "-ne", tpl, "f"}, 2, "program text"},
		{"sed -e attached", []string{"sed", "-es/x/" + tpl + "/", "f"}, 1, "program text"},
		{"sed --expression=", []string{"sed", "--expression=s/" + tpl + "//", "f"}, 1, "program text"},
		{"sed file operand", []string{"sed", "-e", "s/x/y/", tpl}, -1, ""},
		{"sed -f file operand", []string{"sed", "-f", "/opt/x.sed", tpl}, -1, ""},
		{"sed -i.bak script", []string{"sed", "-i.bak", "s/a/" + tpl + "/", "f"}, 2, "program text"},

		{"psql -c", []string{"psql", "-h", "db", "-c", "select " + tpl}, 4, "psql -c"},
		{"psql dbname --command=", []string{"psql", "app", "--command=select " + tpl}, 2, "program text"},
		{"psql templated dbname", []string{"psql", "-c", "select 1", tpl}, -1, ""},
		{"mysql -e", []string{"mysql", "-u", "ro", "-e", "select " + tpl}, 4, "mysql -e"},
		{"mysql --execute", []string{"mysql", "--execute", tpl}, 2, "program text"},
		{"mysql templated database", []string{"mysql", "-e", "select 1", tpl}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, loaded := loadRunStep(t, tt.run)
			if tt.bad < 0 {
				if len(got) != 0 || !loaded {
					t.Fatalf("refused a safe step:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			want := fmt.Sprintf("5: runbook a: steps[0].run[%d]: ", tt.bad)
			if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], tt.msg) {
				t.Fatalf("problems:\n%s\nwant one starting %q containing %q", strings.Join(got, "\n"), want, tt.msg)
			}
			if loaded {
				t.Fatal("the runbook was registered")
			}
		})
	}
}
