# An integration test, run by `jbuild test //services:geotags_db_test`: start tinydb, store a tag
# with geotags, read it back, restart tinydb and read it again (tinydb keeps a journal).
# It runs in the sandbox, in the environment of the test's run closure (bin/geotags, bin/tinydb),
# with its own network namespace: port 7000 is free whatever the host runs.
set -eu
export TINYDB_HOST=127.0.0.1 TINYDB_PORT=7000
data="$TEST_TMPDIR/data"
starts=0
# On a failure, show what tinydb said.
trap 'code=$?; [ $code -eq 0 ] || tail -n 20 "$TEST_TMPDIR"/tinydb.*.out; exit $code' EXIT

start_tinydb() {
    starts=$((starts + 1))
    out="$TEST_TMPDIR/tinydb.$starts.out"  # a new file per start: never read the last run's "listening"
    bin/tinydb "$TINYDB_PORT" --data "$data" > "$out" 2>&1 &
    tinydb=$!
    tries=0
    until grep -q "listening" "$out" 2>/dev/null; do
        tries=$((tries + 1))
        if [ "$tries" -gt 200 ] || ! kill -0 "$tinydb" 2>/dev/null; then
            echo "tinydb did not start"; exit 1
        fi
        sleep 0.05
    done
}

start_tinydb
bin/geotags tag aalborg 57.64911 10.40744 | tee "$TEST_TMPDIR/tagged"
grep -q "tagged aalborg: u4pruydqqvj" "$TEST_TMPDIR/tagged"
bin/geotags get aalborg | tee "$TEST_TMPDIR/got"
grep -q "aalborg: u4pruydqqvj 57.64911 10.40744" "$TEST_TMPDIR/got"
if bin/geotags get nowhere 2> "$TEST_TMPDIR/missing"; then echo "a tag never stored was found"; exit 1; fi
grep -q "no tag 'nowhere'" "$TEST_TMPDIR/missing"

kill "$tinydb"; wait "$tinydb" || true
start_tinydb
bin/geotags get aalborg | grep -q "u4pruydqqvj"
kill "$tinydb"; wait "$tinydb" || true
echo "geotags stored a tag in tinydb and read it back, before and after a restart"
