# Counts the TAP output of one runtime-tools validation file (stdin) and prints
# "ok notok skip note". Set rc to the file's exit status (124: timed out).
#
# Only top-level result lines count: the YAML diagnostics carry the nested TAP of
# runtimetest as JSON strings. A file that exits non-zero, has no plan, or times out
# counts one extra not-ok unless its plan already accounts for the missing results,
# so a file that did not finish never looks clean. The lifecycle and hook files
# print no result line, only "1..0", and report a failure as a diagnostic with a
# non-empty "error": that is one not-ok, and a clean "1..0" is one ok.
# The *_capabilities_fail and *_rlimits_fail files give a bad value and print
# nothing at all when the runtime refuses it, as it must: with expectfail set,
# a silent exit 0 is one ok ("refused").
{ lines++ }
/^ok([ \t]|$)/ { ok++; if (tolower($0) ~ /#[ \t]*skip/) skip++; next }
/^not ok([ \t]|$)/ { nok++; next }
/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan += $0 + 0; plans++; next }
/^    "error": "[^"]/ { diagerr = 1 }
END {
	missing = plan - ok - nok
	if (missing < 0) missing = 0
	note = ""
	if (expectfail && rc == 0 && lines == 0) { printf "1 0 0 refused\n"; exit }
	if (rc == 124) note = "timeout"
	else if (rc != 0) note = "exit " rc
	else if (plans == 0) note = "no plan"
	nok += missing
	if (note != "" && missing == 0) nok++
	if (note == "" && ok + nok == 0) {
		if (diagerr) { nok = 1; note = "error" } else ok = 1
	}
	printf "%d %d %d %s\n", ok, nok, skip, note
}
