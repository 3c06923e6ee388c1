#!/bin/bash
# Runs inside the SELinux-enforcing guest as root in unconfined_t (packed
# into the payload as 'run' by test/vm/run.sh). Prints "CHECK PASS: ..." /
# "CHECK FAIL: ..." lines and exits non-zero when any check failed.
#
# Part A needs only the policy module: runcon puts processes into the step
# domains and probes what they may do. These probes run as root, without
# Landlock, without a uid drop, on files made world-writable: what they
# are denied, only SELinux denies.
# Part B needs the engine ('autobuild', 'autobuild-helper' in the payload):
# real git modules at every trust level, dependencies, an attacker module,
# a permissive host, a policy without a level's type, a systemd service,
# autobuild-secure, and the host's e2e isolation suite ('e2e.test').
set -u
ci=$(cd "$(dirname "$0")" && pwd)
RESULTS=${RESULTS:-/var/tmp/results}
# Settings from the host (run.sh).
[ -f "$ci/vm.env" ] && . "$ci/vm.env"
mkdir -p "$RESULTS"
npass=0 nfail=0
pass() { echo "CHECK PASS: $*"; npass=$((npass + 1)); }
fail() { echo "CHECK FAIL: $*"; nfail=$((nfail + 1)); }
note() { echo "CHECK NOTE: $*"; }
check() { # check NAME WANT GOT
	if [ "$2" = "$3" ]; then pass "$1 ($3)"; else fail "$1: want '$2', got '$3'"; fi
}
denied() { # denied NAME OUTPUT: the output says Permission denied
	case "$2" in *"ermission denied"*|*"not permitted"*) pass "$1" ;; *) fail "$1: got '$2'" ;; esac
}
# AVCs since a marker written into the kernel log (line counts would
# shift once the ring buffer wraps). Only real denials count: a line with
# permissive=1 denied nothing.
avc_mark() { local k="autobuild-vm-mark-$(date +%s%N)"; echo "$k" >/dev/kmsg; echo "$k"; }
avc_since() { dmesg | awk -v m="$1" 'index($0, m) {on=1; next} on' | grep -E 'avc: +denied' | grep 'permissive=0'; }

# The MCS pair the engine must give a module, computed here from its name
# and not by the engine (sandbox/level.go): FNV-1a 32 of "mcs:"+name,
# modulo the number of pairs of c0..c1023, mapped onto (a, b), a < b.
# (Modules that collide take the next pair: none of these names do.)
fnv1a() {
	local s=$1 h=2166136261 i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(( ((h ^ c) * 16777619) & 0xFFFFFFFF ))
	done
	echo "$h"
}
mcs_of() {
	local k=$(( $(fnv1a "mcs:$1") % (1024 * 1023 / 2) )) a=0 row=1023
	while (( k >= row )); do k=$((k - row)); a=$((a + 1)); row=$((row - 1)); done
	echo "s0:c$a,c$((a + 1 + k))"
}

# A step gets descriptors only from the engine domain autobuild_t, so the
# probes' output goes to an O_APPEND file labelled autobuild_log_t,
# opened by a shell in autobuild_t (as the engine opens its log files),
# which then starts the probe with runcon as the engine would.
OUTDIR=/var/lib/autobuild-policytest-out
rm -rf "$OUTDIR"; mkdir -p "$OUTDIR"; chcon -t autobuild_log_t "$OUTDIR"
nout=0
# dom_run CMD...: run CMD (from autobuild_t) with stdout/stderr on a fresh
# log file, print the file.
dom_run() {
	nout=$((nout + 1))
	local f=$OUTDIR/out-$nout
	: >"$f"
	chmod 0666 "$f"
	runcon -t autobuild_t -l s0 /usr/bin/env OUTF="$f" /bin/sh -c 'exec "$@" </dev/null >>"$OUTF" 2>&1' sh "$@"
	tr -d '\0' <"$f"
}
ctx_of() { dom_run runcon -t "$1" -l "$2" /bin/cat /proc/thread-self/attr/current; }
# in_dom TYPE LEVEL SCRIPT: run a bash script in a step domain.
in_dom() { dom_run runcon -t "$1" -l "$2" /bin/bash -c "$3"; }

echo "== A. policy checks (runcon) =="
check "enforcing" 1 "$(cat /sys/fs/selinux/enforce)"
check "policy module loaded" autobuild "$(semodule -l | grep -x autobuild)"
me=$(id -Z)
user=${me%%:*}
rest=${me#*:}
role=${rest%%:*}
check "the independent MCS computation (sandbox/level.go's algorithm)" "s0:c325,c353 s0:c102,c1011" "$(mcs_of victim) $(mcs_of attacker)"
check "autobuild_t at s0 (the shell the probes start from)" "$user:$role:autobuild_t:s0" "$(dom_run /bin/cat /proc/thread-self/attr/current)"
for t in autobuild_scm_t autobuild_build_isolated_t autobuild_build_network_t autobuild_build_trusted_t; do
	check "transition autobuild_t -> $t" "$user:$role:$t:s0:c1,c2" "$(ctx_of "$t" s0:c1,c2)"
	runcon -t "$t" -l s0:c1,c2 /bin/true </dev/null >/dev/null 2>&1
	check "transition unconfined_t -> $t (exit status)" 0 "$?"
done
f=$OUTDIR/nnp; : >"$f"; chmod 0666 "$f"
setpriv --no-new-privs runcon -t autobuild_t -l s0 /usr/bin/env OUTF="$f" /bin/sh -c 'exec runcon -t autobuild_build_isolated_t -l s0:c1,c2 /bin/cat /proc/thread-self/attr/current </dev/null >>"$OUTF" 2>&1'
check "transitions under no_new_privs (nnp_transition: unconfined_t -> autobuild_t -> step)" "$user:$role:autobuild_build_isolated_t:s0:c1,c2" "$(tr -d '\0' <"$f")"

# Pipes: a step may write the engine's (autobuild_t: its status pipe),
# never unconfined_t's (a root shell's): the kernel closes that descriptor
# at exec. Both pipes are made at plain s0, so that MCS, which forbids a
# step to write a pipe made at s0-s0:c0.c1023, is not what decides.
got=$(runcon -l s0 /bin/bash -c 'runcon -t autobuild_build_isolated_t -l s0:c1,c2 /bin/echo leaked | cat' 2>&1)
check "a step cannot write a pipe of unconfined_t (at s0: TE decides)" "" "$got"
got=$(runcon -t autobuild_t -l s0 /usr/bin/env bash -c 'runcon -t autobuild_build_isolated_t -l s0:c1,c2 /bin/echo passed | cat' 2>&1)
check "a step writes a pipe of autobuild_t at s0 (the engine's status pipe)" "passed" "$got"

# Network: isolated may not even create an inet socket; network and
# trusted may connect anywhere; scm only to the ports repositories are
# served on (http, https, git, ssh). "Connection refused": SELinux let the
# connect through to the (closed) port.
got=$(in_dom autobuild_build_isolated_t s0:c1,c2 'exec 3<>/dev/tcp/127.0.0.1/9 && echo connected')
denied "isolated: tcp socket denied" "$got"
for t in autobuild_build_network_t autobuild_build_trusted_t; do
	got=$(in_dom $t s0:c1,c2 'exec 3<>/dev/tcp/127.0.0.1/9 && echo connected')
	case "$got" in *"Connection refused"*|*connected*) pass "$t: tcp connect to any port allowed" ;; *) fail "$t: tcp connect: $got" ;; esac
done
for port in 80 443 9418 22; do
	got=$(in_dom autobuild_scm_t s0:c1,c2 "exec 3<>/dev/tcp/127.0.0.1/$port && echo connected")
	case "$got" in *"Connection refused"*|*connected*) pass "scm: tcp connect to port $port allowed" ;; *) fail "scm: tcp connect to $port: $got" ;; esac
done
for port in 9 25 5432; do
	denied "scm: tcp connect to port $port denied" "$(in_dom autobuild_scm_t s0:c1,c2 "exec 3<>/dev/tcp/127.0.0.1/$port && echo connected")"
done

# Files: a build root with three modules, DAC wide open (a+rwX) so that
# only SELinux can say no. a (s0:c1,c2) is the module probing; b
# (s0:c3,c4) has finished: its install root is sealed
# (autobuild_install_ro_t at s0, as sandbox.SealInstallRoot labels it);
# c (s0:c5,c6) is building: its install root is autobuild_install_t at its
# categories.
T=/var/lib/autobuild-policytest
rm -rf "$T"
for m in a b c; do
	mkdir -p "$T"/source-root/$m "$T"/scm-root/$m "$T"/install-root/$m "$T"/package-root/$m "$T"/tmp/$m
done
mkdir -p "$T"/state "$T"/log-root/1 "$T"/sites/1 "$T"/build-archive/b/key
echo secret-b >"$T/source-root/b/secret-b.txt"
echo meta-a >"$T/scm-root/a/HEAD"
echo meta-b >"$T/scm-root/b/HEAD"
echo install-b >"$T/install-root/b/lib-b.txt"
printf '#!/bin/sh\necho tool-b\n' >"$T/install-root/b/tool-b"
echo install-c >"$T/install-root/c/lib-c.txt"
echo state >"$T/state/counter"
echo log >"$T/log-root/1/b.log"
echo site >"$T/sites/1/index.html"
echo archived >"$T/build-archive/b/key/manifest"
chmod -R a+rwX "$T"
chmod a+x "$T/install-root/b/tool-b"
chcon -R -t autobuild_var_lib_t -l s0 "$T"
for m in a:s0:c1,c2 b:s0:c3,c4 c:s0:c5,c6; do
	n=${m%%:*} l=${m#*:}
	chcon -R -t autobuild_source_t -l "$l" "$T/source-root/$n"
	chcon -R -t autobuild_scm_meta_t -l "$l" "$T/scm-root/$n"
	chcon -R -t autobuild_install_t -l "$l" "$T/install-root/$n"
	chcon -R -t autobuild_package_t -l "$l" "$T/package-root/$n"
	chcon -R -t autobuild_tmp_t -l "$l" "$T/tmp/$n"
done
chcon -R -t autobuild_install_ro_t -l s0 "$T/install-root/b"
chcon -R -t autobuild_state_t -l s0 "$T/state"
chcon -R -t autobuild_log_t -l s0 "$T/log-root"
chcon -R -t autobuild_site_t -l s0 "$T/sites"
chcon -R -t autobuild_archive_t -l s0 "$T/build-archive"
# Secrets outside the build root: a user's SSH key, a host key, root's files.
mkdir -p /root/.ssh /srv/git-probe /var/tmp/repo-probe /root/repo-probe
echo ssh-key >/root/.ssh/id_probe; echo host-key >/etc/ssh/ssh_host_probe_key 2>/dev/null || { mkdir -p /etc/ssh; echo host-key >/etc/ssh/ssh_host_probe_key; }
echo repo-srv >/srv/git-probe/HEAD; echo repo-tmp >/var/tmp/repo-probe/HEAD; echo repo-home >/root/repo-probe/HEAD
restorecon -R /root /etc/ssh /srv/git-probe
chcon -t user_tmp_t /var/tmp/repo-probe /var/tmp/repo-probe/HEAD
chmod -R a+rwX /root/.ssh /etc/ssh/ssh_host_probe_key /srv/git-probe /var/tmp/repo-probe /root/repo-probe
chmod a+x /root
note "labels: ssh key $(stat -c %C /root/.ssh/id_probe), host key $(stat -c %C /etc/ssh/ssh_host_probe_key), /srv repo $(stat -c %C /srv/git-probe/HEAD), /root repo $(stat -c %C /root/repo-probe/HEAD), /var/tmp repo $(stat -c %C /var/tmp/repo-probe/HEAD)"

m=$(avc_mark)
for t in autobuild_build_isolated_t autobuild_build_network_t autobuild_build_trusted_t; do
	for d in source-root install-root package-root tmp; do
		got=$(in_dom $t s0:c1,c2 "echo x >$T/$d/a/out-$t && cat $T/$d/a/out-$t")
		check "$t: writes its own $d folder" x "$got"
	done
	denied "$t: MCS denies reading another module's source" "$(in_dom $t s0:c1,c2 "cat $T/source-root/b/secret-b.txt")"
	denied "$t: MCS denies writing another module's source" "$(in_dom $t s0:c1,c2 "echo pwned >$T/source-root/b/pwned")"
	check "$t: reads a finished module's (sealed) install root" install-b "$(in_dom $t s0:c1,c2 "cat $T/install-root/b/lib-b.txt")"
	check "$t: runs a tool from a sealed install root" tool-b "$(in_dom $t s0:c1,c2 "$T/install-root/b/tool-b")"
	denied "$t: cannot add to a sealed install root" "$(in_dom $t s0:c1,c2 "echo pwned >$T/install-root/b/pwned")"
	denied "$t: cannot change a file of a sealed install root" "$(in_dom $t s0:c1,c2 "echo pwned >>$T/install-root/b/lib-b.txt")"
	denied "$t: cannot remove from a sealed install root" "$(in_dom $t s0:c1,c2 "rm -f $T/install-root/b/lib-b.txt")"
	denied "$t: MCS denies a building module's install root" "$(in_dom $t s0:c1,c2 "cat $T/install-root/c/lib-c.txt")"
	for d in source-root install-root package-root tmp scm-root; do
		denied "$t: cannot create in the top folder $d" "$(in_dom $t s0:c1,c2 "mkdir $T/$d/planted")"
	done
	denied "$t: cannot read its module's SCM metadata" "$(in_dom $t s0:c1,c2 "cat $T/scm-root/a/HEAD")"
	denied "$t: cannot write its module's SCM metadata" "$(in_dom $t s0:c1,c2 "echo x >$T/scm-root/a/config")"
	denied "$t: cannot read state/" "$(in_dom $t s0:c1,c2 "cat $T/state/counter")"
	denied "$t: cannot write state/" "$(in_dom $t s0:c1,c2 "echo 9 >$T/state/counter")"
	denied "$t: cannot create log files" "$(in_dom $t s0:c1,c2 "echo x >$T/log-root/1/forged.log")"
	denied "$t: cannot read the logs" "$(in_dom $t s0:c1,c2 "cat $T/log-root/1/b.log")"
	denied "$t: cannot add to the site" "$(in_dom $t s0:c1,c2 "echo x >$T/sites/1/pwned.html")"
	denied "$t: cannot change the site" "$(in_dom $t s0:c1,c2 "echo x >>$T/sites/1/index.html")"
	denied "$t: cannot remove from the site" "$(in_dom $t s0:c1,c2 "rm -f $T/sites/1/index.html")"
	denied "$t: cannot add to the archive" "$(in_dom $t s0:c1,c2 "mkdir $T/build-archive/b/forged")"
	denied "$t: cannot change the archive" "$(in_dom $t s0:c1,c2 "echo x >>$T/build-archive/b/key/manifest")"
	denied "$t: cannot read /etc/shadow" "$(in_dom $t s0:c1,c2 "cat /etc/shadow")"
	denied "$t: cannot write /tmp" "$(in_dom $t s0:c1,c2 "echo x >/tmp/escape-$t")"
	denied "$t: cannot write /root" "$(in_dom $t s0:c1,c2 "echo x >/root/escape-$t")"
	denied "$t: cannot use the host's /dev/shm" "$(in_dom $t s0:c1,c2 "echo x >/dev/shm/escape-$t")"
	denied "$t: cannot read a user's SSH key" "$(in_dom $t s0:c1,c2 "cat /root/.ssh/id_probe")"
done

# Checkouts: their module's work tree, metadata and temp folder; local
# repositories where they usually live; nothing of the engine's, no
# secrets, no install roots.
t=autobuild_scm_t
for d in source-root scm-root tmp; do
	check "scm: writes its module's $d folder" x "$(in_dom $t s0:c1,c2 "echo x >$T/$d/a/scm-out && cat $T/$d/a/scm-out")"
done
denied "scm: MCS denies another module's SCM metadata" "$(in_dom $t s0:c1,c2 "cat $T/scm-root/b/HEAD")"
denied "scm: MCS denies another module's source" "$(in_dom $t s0:c1,c2 "cat $T/source-root/b/secret-b.txt")"
denied "scm: cannot write its module's install root" "$(in_dom $t s0:c1,c2 "echo x >$T/install-root/a/x")"
denied "scm: cannot write a sealed install root" "$(in_dom $t s0:c1,c2 "echo x >$T/install-root/b/x")"
denied "scm: cannot write its module's package folder" "$(in_dom $t s0:c1,c2 "echo x >$T/package-root/a/x")"
denied "scm: cannot create in the top folder source-root" "$(in_dom $t s0:c1,c2 "mkdir $T/source-root/planted")"
denied "scm: cannot write state/" "$(in_dom $t s0:c1,c2 "echo 9 >$T/state/counter")"
denied "scm: cannot create in state/" "$(in_dom $t s0:c1,c2 "echo 9 >$T/state/pwned")"
denied "scm: cannot read state/" "$(in_dom $t s0:c1,c2 "cat $T/state/counter")"
denied "scm: cannot read the logs" "$(in_dom $t s0:c1,c2 "cat $T/log-root/1/b.log")"
denied "scm: cannot read the site" "$(in_dom $t s0:c1,c2 "cat $T/sites/1/index.html")"
denied "scm: cannot read the archive" "$(in_dom $t s0:c1,c2 "cat $T/build-archive/b/key/manifest")"
denied "scm: cannot read a user's SSH key (ssh_home_t)" "$(in_dom $t s0:c1,c2 "cat /root/.ssh/id_probe")"
denied "scm: cannot read an SSH host key (sshd_key_t)" "$(in_dom $t s0:c1,c2 "cat /etc/ssh/ssh_host_probe_key")"
denied "scm: cannot read /etc/shadow" "$(in_dom $t s0:c1,c2 "cat /etc/shadow")"
denied "scm: cannot write /tmp" "$(in_dom $t s0:c1,c2 "echo x >/tmp/escape-scm")"
check "scm: reads a repository in /srv (var_t)" repo-srv "$(in_dom $t s0:c1,c2 "cat /srv/git-probe/HEAD")"
check "scm: reads a repository in /root (user_home_t)" repo-home "$(in_dom $t s0:c1,c2 "cat /root/repo-probe/HEAD")"
check "scm: reads a repository in /var/tmp (user_tmp_t)" repo-tmp "$(in_dom $t s0:c1,c2 "cat /var/tmp/repo-probe/HEAD")"
avcs=$(avc_since "$m")
if echo "$avcs" | grep -q 'scontext=[^ ]*:autobuild_build_isolated_t:s0:c1,c2 tcontext=[^ ]*:autobuild_source_t:s0:c3,c4'; then
	pass "AVC (permissive=0) logged for the cross-module access (MCS)"
else fail "no enforcing AVC for the cross-module access"; fi
if echo "$avcs" | grep -q 'scontext=[^ ]*:autobuild_scm_t:s0:c1,c2 tcontext=[^ ]*:autobuild_state_t:s0'; then
	pass "AVC (permissive=0) logged for scm and state/"
else fail "no enforcing AVC for scm and state/"; fi

# The engine domain: nothing outside what a run needs.
ae() { # ae SCRIPT: run a shell script in autobuild_t at s0, print its output
	nout=$((nout + 1))
	local f=$OUTDIR/out-$nout
	: >"$f"
	runcon -t autobuild_t -l s0 /usr/bin/env bash -c "$1" </dev/null >>"$f" 2>&1
	tr -d '\0' <"$f"
}
denied "autobuild_t: cannot read a user's SSH key" "$(ae "cat /root/.ssh/id_probe")"
denied "autobuild_t: cannot read an SSH host key" "$(ae "cat /etc/ssh/ssh_host_probe_key")"
denied "autobuild_t: cannot read /etc/shadow" "$(ae "cat /etc/shadow")"
denied "autobuild_t: cannot write a user's files" "$(ae "echo x >>/root/repo-probe/HEAD")"
denied "autobuild_t: cannot write users' temporary files" "$(ae "echo x >>/var/tmp/repo-probe/HEAD")"
check "autobuild_t: reads a repository in /root" repo-home "$(ae "cat /root/repo-probe/HEAD")"
cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
if [ -n "$cg" ]; then
	got=$(ae "set -e; mkdir -p $cg/autobuild/vmprobe/step; cat $cg/autobuild/vmprobe/step/cgroup.events >/dev/null; echo 1 >$cg/autobuild/vmprobe/step/cgroup.kill; rmdir $cg/autobuild/vmprobe/step $cg/autobuild/vmprobe; echo cgroup-ok")
	check "autobuild_t: makes, kills and removes a step cgroup under $cg/autobuild" cgroup-ok "$got"
else fail "no cgroup2 mount in the guest"; fi

# A tmpfs a step mounts (its view's /tmp and /dev/shm) and what it creates
# there are the step's own type, at its categories.
got=$(in_dom autobuild_build_isolated_t s0:c1,c2 'unshare -m --propagation private sh -c "mount -t tmpfs shm /tmp && touch /tmp/probe && stat -c %C /tmp/probe"')
check "a tmpfs mounted by a step: its files are autobuild_step_tmpfs_t at the step's level" "$user:object_r:autobuild_step_tmpfs_t:s0:c1,c2" "$got"

# Signals and ptrace: a step may not touch the engine (unconfined_t or autobuild_t).
runcon -t autobuild_t -l s0 /usr/bin/sleep 60 &
eng=$!
sleep 0.5
check "engine stand-in runs in autobuild_t" "autobuild_t" "$(cut -d: -f3 /proc/$eng/attr/current | tr -d '\0')"
for target in $$ $eng; do
	got=$(in_dom autobuild_build_trusted_t s0:c1,c2 "kill -0 $target && echo signalled")
	denied "step cannot signal pid $target ($(cut -d: -f3 /proc/$target/attr/current | tr -d '\0'))" "$got"
	got=$(in_dom autobuild_build_trusted_t s0:c1,c2 "cat /proc/$target/environ >/dev/null && echo read")
	denied "step cannot read /proc/$target/environ" "$got"
done
kill $eng 2>/dev/null
wait $eng 2>/dev/null

echo "== B. the engine under enforcing SELinux =="
ab=$ci/autobuild
# The helper re-executes this binary after dropping to a module uid.
chmod 0755 "$ci"
if [ ! -x "$ab" ]; then
	fail "engine: no autobuild binary in the payload (see the host's build output)"
else
	install -m 0755 "$ab" /usr/bin/autobuild
	if [ -x "$ci/autobuild-secure" ]; then install -m 0755 "$ci/autobuild-secure" /usr/bin/autobuild-secure
	else install -m 0755 "$ab" /usr/bin/autobuild-secure; fi
	restorecon /usr/bin/autobuild /usr/bin/autobuild-secure
	check "label of /usr/bin/autobuild" autobuild_exec_t "$(stat -c %C /usr/bin/autobuild | cut -d: -f3)"
	if [ -x "$ci/autobuild-helper" ]; then
		install -m 0755 "$ci/autobuild-helper" /usr/bin/autobuild-helper
		restorecon /usr/bin/autobuild-helper
		check "label of /usr/bin/autobuild-helper" autobuild_helper_exec_t "$(stat -c %C /usr/bin/autobuild-helper | cut -d: -f3)"
		helper=/usr/bin/autobuild-helper
	else
		note "no autobuild-helper in the payload: the engine is its own helper"
		helper=/usr/bin/autobuild
	fi
	/usr/bin/autobuild --version 2>&1 | head -1 | sed 's/^/CHECK NOTE: autobuild --version: /'

	# The helper driven directly (no engine): exec of the helper into the
	# step domain, its check of its own context, its file system view (in
	# the mount namespace unshare gives it), rlimits, setresuid to a
	# module uid, Landlock, exec of /bin/sh -c.
	hostns=$(stat -L -c %i /proc/self/ns/mnt)
	H=/var/lib/autobuild-helpertest
	helper_spec() { # helper_spec LEVEL DIR LABEL
		printf '{"args":["/bin/sh","-c","cat /proc/thread-self/attr/current >%s/context; echo >>%s/context; id -u >>%s/context; cat /etc/shadow 2>&1 | head -1 >>%s/context; touch /dev/shm/p /tmp/p; stat -c %%C /dev/shm/p /tmp/p >>%s/context"],"profile":{"level":"%s","confined":true,"network":"none","write":["%s"],"limits":{"processes":64,"open_files":256},"uid":250000,"gid":250000,"selinux_label":"%s","allow_weaker":true},"dir":"%s","engine_mount_ns":%s}' \
			"$2" "$2" "$2" "$2" "$2" "$1" "$2" "$3" "$2" "$hostns"
	}
	for t in isolated network trusted; do
		d=$H/$t
		rm -rf "$d"; mkdir -p "$d"; chown 250000:250000 "$d"
		chcon -t autobuild_package_t -l s0:c11,c12 "$d"
		want="$user:$role:autobuild_build_${t}_t:s0:c11,c12"
		out=$(dom_run env AUTOBUILD_SANDBOX_SPEC="$(helper_spec $t "$d" "$want")" runcon -t autobuild_build_${t}_t -l s0:c11,c12 unshare -m --propagation unchanged "$helper" __sandbox-exec)
		got=$(tr -d '\0' <"$d/context" 2>/dev/null | tr '\n' ' ')
		case "$got" in
		"$want 250000 "*"ermission denied"*"autobuild_step_tmpfs_t:s0:c11,c12 "*"autobuild_step_tmpfs_t:s0:c11,c12 ") pass "helper (direct) in autobuild_build_${t}_t: own context checked, view (its /dev/shm and /tmp: autobuild_step_tmpfs_t), uid drop, Landlock, sh: $got" ;;
		*) fail "helper (direct) in autobuild_build_${t}_t: recorded '$got', helper said: $out" ;;
		esac
	done
	# Started in another context than its spec names: it refuses to go on.
	d=$H/mismatch
	rm -rf "$d"; mkdir -p "$d"; chown 250000:250000 "$d"; chcon -t autobuild_package_t -l s0:c11,c12 "$d"
	out=$(dom_run /bin/sh -c 'AUTOBUILD_SANDBOX_SPEC="$1" runcon -t autobuild_build_isolated_t -l s0:c11,c12 unshare -m --propagation unchanged "$2" __sandbox-exec; echo "exit=$?"' sh \
		"$(helper_spec isolated "$d" "$user:$role:autobuild_build_network_t:s0:c11,c12")" "$helper")
	case "$out" in
	*"not in"*"autobuild_build_network_t"*"exit=125"*) [ ! -e "$d/context" ] && pass "helper refuses to run in a context other than its spec's" || fail "helper ran the command in the wrong context" ;;
	*) fail "helper in the wrong context: $out" ;;
	esac

	# Real git modules, readable by the per-module uids.
	G=/srv/git
	rm -rf "$G" /var/lib/autobuild /srv/ab
	mkdir -p "$G" /srv/ab
	chmod 0755 "$G" /srv/ab
	mkrepo() { # mkrepo NAME SCRIPT-BODY
		local d=$G/$1
		mkdir -p "$d"
		printf '#!/bin/sh\n%s\n' "$2" >"$d/autobuild.sh"
		chmod 0755 "$d/autobuild.sh"
		echo "secret of $1" >"$d/secret.txt"
		git -C "$d" init -q -b main
		git -C "$d" add -A
		git -C "$d" -c user.name=ci -c user.email=ci@example.org commit -q -m init
		chmod -R a+rX "$d"
	}
	# Each build records its context, uid, and the labels of its view's
	# /dev/shm and /tmp; its stdout ("ok") goes to its log.
	record='out=${AUTOBUILD_PACKAGE_ROOT:-.}
cat /proc/thread-self/attr/current | tr -d "\0" >"$out/context"
id -u >"$out/uid"
touch /dev/shm/probe /tmp/probe 2>/dev/null
stat -c %C /dev/shm/probe >"$out/shm" 2>&1
echo ok'
	for lvl in isolated network trusted unconfined; do mkrepo "lvl-$lvl" "$record"; done
	mkrepo victim "$record"
	# A dependency that installs a file and a tool; a dependent that reads
	# and runs them, and tries to change them.
	mkrepo dep-lib "$record
mkdir -p \"\$AUTOBUILD_INSTALL_ROOT/bin\"
echo lib-content >\"\$AUTOBUILD_INSTALL_ROOT/lib.txt\"
printf '#!/bin/sh\\necho tool-ran\\n' >\"\$AUTOBUILD_INSTALL_ROOT/bin/tool\"
chmod 0755 \"\$AUTOBUILD_INSTALL_ROOT/bin/tool\""
	deptest='lib=/var/lib/autobuild/install-root/${DEP:-dep-lib}
{ cat $lib/lib.txt 2>&1; $lib/bin/tool 2>&1
if echo x >>$lib/lib.txt 2>/dev/null; then echo "write: ALLOWED"; else echo "write: denied"; fi
if echo x >$lib/planted 2>/dev/null; then echo "add: ALLOWED"; else echo "add: denied"; fi; } >"$out/dep"'
	mkrepo dep-app "$record
$deptest"
	mkrepo lvl-trusted-reader "$record
$deptest"
	mkrepo attacker "$record
for i in 1 2 3; do [ -d /var/lib/autobuild/source-root/victim ] && break; sleep 1; done; sleep 1
for f in /var/lib/autobuild/source-root/victim/secret.txt /var/lib/autobuild/install-root/victim; do
	if ls -la \"\$f\" >/dev/null 2>&1 && cat \"\$f\" >/dev/null 2>&1; then echo \"read \$f: ALLOWED\"; else echo \"read \$f: denied\"; fi
done >\"\$out/attempts\"
if echo pwned >/var/lib/autobuild/source-root/victim/pwned 2>/dev/null; then echo 'write victim source: ALLOWED'; else echo 'write victim source: denied'; fi >>\"\$out/attempts\"
if echo 99 >/var/lib/autobuild/state/pwned 2>/dev/null; then echo 'write state: ALLOWED'; else echo 'write state: denied'; fi >>\"\$out/attempts\"
exit 0"
	mkrepo secure "$record"
	mkrepo sec-lib "$record
mkdir -p \"\$AUTOBUILD_INSTALL_ROOT/bin\"
echo lib-content >\"\$AUTOBUILD_INSTALL_ROOT/lib.txt\"
printf '#!/bin/sh\\necho tool-ran\\n' >\"\$AUTOBUILD_INSTALL_ROOT/bin/tool\"
chmod 0755 \"\$AUTOBUILD_INSTALL_ROOT/bin/tool\""
	mkrepo sec-app "$record
$deptest"
	mkrepo sec-unconfined "$record"
	mkrepo secure-runcon "$record"
	mkrepo systemd "$record
wc -c </etc/autobuild/autobuild.yaml >\"\$out/conf\" 2>&1"
	mkrepo denied-level "$record"

	cat >/srv/ab/config.yaml <<-EOF
	build_root: /var/lib/autobuild
	workers: 2
	allow_weaker_confinement: true
	modules:
	  - {name: lvl-isolated, source: {url: $G/lvl-isolated}, trust: isolated}
	  - {name: lvl-network, source: {url: $G/lvl-network}, trust: network}
	  - {name: lvl-trusted, source: {url: $G/lvl-trusted}, trust: trusted}
	  - {name: lvl-unconfined, source: {url: $G/lvl-unconfined}, trust: unconfined}
	  - {name: victim, source: {url: $G/victim}, trust: isolated}
	  - {name: dep-lib, source: {url: $G/dep-lib}, trust: isolated}
	  - {name: dep-app, source: {url: $G/dep-app}, trust: isolated, depends: [dep-lib]}
	  - {name: lvl-trusted-reader, source: {url: $G/lvl-trusted-reader}, trust: trusted, depends: [dep-lib]}
	EOF
	cat >/srv/ab/attack.yaml <<-EOF
	build_root: /var/lib/autobuild
	workers: 2
	allow_weaker_confinement: true
	modules:
	  - {name: victim, source: {url: $G/victim}, trust: isolated}
	  - {name: attacker, source: {url: $G/attacker}, trust: isolated}
	EOF
	cat >/srv/ab/secure.yaml <<-EOF
	build_root: /var/lib/autobuild
	workers: 1
	allow_weaker_confinement: true
	modules:
	  - {name: secure, source: {url: file://$G/secure}, trust: isolated, command: "sleep 3; ./autobuild.sh"}
	EOF
	sed 's/secure/secure-runcon/g' /srv/ab/secure.yaml >/srv/ab/runcon.yaml
	# The service reads the configuration where the README puts it.
	mkdir -p /etc/autobuild
	sed 's/secure/systemd/g' /srv/ab/secure.yaml >/etc/autobuild/autobuild.yaml
	restorecon -R /etc/autobuild
	cat >>/srv/ab/secure.yaml <<-EOF
	  - {name: sec-lib, source: {url: $G/sec-lib}, trust: isolated}
	  - {name: sec-app, source: {url: $G/sec-app}, trust: isolated, depends: [sec-lib], env: ["DEP=sec-lib"]}
	  - {name: sec-unconfined, source: {url: $G/sec-unconfined}, trust: unconfined}
	EOF
	# No allow_weaker_confinement: a level the host cannot enforce refuses the run.
	cat >/srv/ab/strict.yaml <<-EOF
	build_root: /var/lib/autobuild
	modules:
	  - {name: lvl-isolated, source: {url: $G/lvl-isolated}, trust: isolated}
	EOF
	cat >/srv/ab/nosuch.yaml <<-EOF
	build_root: /var/lib/autobuild
	levels:
	  nosuch: {base: isolated, selinux_type: autobuild_nosuch_t}
	modules:
	  - {name: denied-level, source: {url: $G/denied-level}, trust: nosuch}
	EOF
	sed 's/^build_root: .*/&\nallow_weaker_confinement: true/' /srv/ab/nosuch.yaml >/srv/ab/nosuch-weak.yaml

	# The engine's output goes through pipes: the engine runs in
	# autobuild_t, which may not write a user's files a redirect opened.
	/usr/bin/autobuild doctor --config /srv/ab/config.yaml 2>&1 | cat >"$RESULTS/doctor.txt"
	sed 's/^/CHECK NOTE: doctor: /' "$RESULTS/doctor.txt" | head -12
	if grep -q 'yes  selinux' "$RESULTS/doctor.txt" && ! grep -q 'NO   selinux' "$RESULTS/doctor.txt"; then pass "doctor: selinux in force for every level"
	else fail "doctor does not show selinux in force (see doctor.txt)"; fi

	# The plan gives each module's MCS level and SELinux type.
	for cfg in /srv/ab/config.yaml /srv/ab/attack.yaml /srv/ab/secure.yaml /srv/ab/runcon.yaml /etc/autobuild/autobuild.yaml; do
		p=$RESULTS/plan-$(basename "$cfg" .yaml).json
		/usr/bin/autobuild plan --config "$cfg" --json 2>&1 | cat >"$p"
		jq -e . "$p" >/dev/null 2>&1 || fail "autobuild plan --config $cfg --json: $(head -c 300 "$p")"
	done
	cat "$RESULTS"/plan-*.json >"$RESULTS/plan-all.json" 2>/dev/null
	# plan_field MODULE FIELD: the field of the module object named MODULE.
	plan_field() { jq -r --arg m "$1" --arg f "$2" '[.. | objects | select(.name? == $m and has($f)) | .[$f]][0] // empty' "$RESULTS/plan-all.json" 2>/dev/null | head -1; }

	built() { cat "/var/lib/autobuild/package-root/$1/$2" 2>/dev/null || cat "/var/lib/autobuild/source-root/$1/$2" 2>/dev/null; }
	check_module() { # check_module NAME WANT-TYPE WANT-USER:ROLE
		local m=$1 ctx mcs want uid
		ctx=$(built "$m" context)
		[ -n "$ctx" ] || { fail "$m: the build recorded no context"; return; }
		note "$m ran as $ctx uid=$(built "$m" uid)"
		check "$m: SELinux type" "$2" "$(echo "$ctx" | cut -d: -f3)"
		check "$m: user:role" "$3" "$(echo "$ctx" | cut -d: -f1-2)"
		if [ "$2" != autobuild_t ] && [ "$2" != unconfined_t ]; then
			mcs=$(echo "$ctx" | cut -d: -f4-)
			want=$(mcs_of "$m")
			check "$m: MCS level = its own pair, computed here from its name" "$want" "$mcs"
			check "$m: the plan's mcs and step_mcs" "$want $want" "$(plan_field "$m" mcs) $(plan_field "$m" step_mcs)"
			check "$m: the plan's selinux_type" "$2" "$(plan_field "$m" selinux_type)"
			uid=$(built "$m" uid)
			if [ "${uid:-0}" -ge 200000 ] 2>/dev/null; then pass "$m: per-module uid ($uid)"; else fail "$m: uid $uid, want >= 200000"; fi
			check "$m: its view's /dev/shm is its own tmpfs, at its categories" "autobuild_step_tmpfs_t:$want" "$(built "$m" shm | cut -d: -f3-)"
		fi
	}
	# engine_ps FILE PID: poll the labels of autobuild processes while PID runs.
	engine_ps() {
		: >"$1"
		while kill -0 "$2" 2>/dev/null; do
			ps -e -o label,pid,ppid,args | grep -E 'autobuild (run|doctor)|autobuild-secure run|sleep 3' | grep -v grep >>"$1"
			sleep 0.3
		done
	}

	echo "-- autobuild run from root's shell (the engine stays in unconfined_t)"
	m=$(avc_mark)
	(timeout 300 /usr/bin/autobuild run --config /srv/ab/config.yaml 2>&1 | cat >"$RESULTS/run-levels.out"; echo "${PIPESTATUS[0]}" >"$RESULTS/run-levels.rc") &
	engine_ps "$RESULTS/ps-levels.txt" $!
	wait
	rc=$(cat "$RESULTS/run-levels.rc")
	check "autobuild run (all levels) exit status" 0 "$rc"
	[ "$rc" = 0 ] || tail -20 "$RESULTS/run-levels.out" | sed 's/^/CHECK NOTE: run: /'
	if grep -Eq ':unconfined_t:[^ ]* +[0-9]+ +[0-9]+ /usr/bin/autobuild run' "$RESULTS/ps-levels.txt"; then pass "plain autobuild run from root's shell stays in unconfined_t (tunable autobuild_unconfined_auto_transition off)"
	else fail "plain autobuild run from root's shell: $(sort -u "$RESULTS/ps-levels.txt" | head -3 | tr '\n' ';')"; fi
	check_module lvl-isolated autobuild_build_isolated_t "$user:$role"
	check_module lvl-network autobuild_build_network_t "$user:$role"
	check_module lvl-trusted autobuild_build_trusted_t "$user:$role"
	check_module lvl-unconfined unconfined_t "$user:$role"
	check_module victim autobuild_build_isolated_t "$user:$role"
	check_module dep-lib autobuild_build_isolated_t "$user:$role"
	check_module dep-app autobuild_build_isolated_t "$user:$role"
	check_module lvl-trusted-reader autobuild_build_trusted_t "$user:$role"
	for mod in dep-app lvl-trusted-reader; do
		check "$mod: reads and runs what its dependency installed, and cannot change it" "lib-content tool-ran write: denied add: denied" "$(built $mod dep | tr '\n' ' ' | sed 's/ $//')"
	done
	for mod in lvl-isolated lvl-unconfined dep-lib victim; do
		check "$mod: its finished install root is sealed (autobuild_install_ro_t at s0)" "autobuild_install_ro_t:s0" "$(stat -c %C /var/lib/autobuild/install-root/$mod | cut -d: -f3-)"
	done
	check "a file in a sealed install root is sealed" "autobuild_install_ro_t:s0" "$(stat -c %C /var/lib/autobuild/install-root/dep-lib/bin/tool | cut -d: -f3-)"
	for d in source-root scm-root install-root package-root tmp; do
		[ -d /var/lib/autobuild/$d ] || continue
		check "top folder $d is the engine's (autobuild_var_lib_t)" autobuild_var_lib_t "$(stat -c %C /var/lib/autobuild/$d | cut -d: -f3)"
	done
	check "lvl-isolated: source folder at its categories" "autobuild_source_t:$(mcs_of lvl-isolated)" "$(stat -c %C /var/lib/autobuild/source-root/lvl-isolated | cut -d: -f3-)"
	log=$(ls /var/lib/autobuild/log-root/*/lvl-isolated.log 2>/dev/null | tail -1)
	if [ -n "$log" ] && grep -qx ok "$log"; then pass "a step's output reaches its log (the log file the engine in unconfined_t opened)"
	else fail "the build's output is not in its log $log: $(tail -5 "$log" 2>/dev/null | tr '\n' ';')"; fi
	ls -laZR /var/lib/autobuild >"$RESULTS/build-root-labels.txt" 2>&1
	avc_since "$m" >"$RESULTS/avc-run-levels.txt"
	note "AVCs during the level run: $(wc -l <"$RESULTS/avc-run-levels.txt")"
	sed -E 's/^.*avc: +//; s/ pid=[0-9]+//; s/ ino=[0-9]+//' "$RESULTS/avc-run-levels.txt" | sort -u | head -20 | sed 's/^/CHECK NOTE: avc: /'

	if [ "$rc" != 0 ] && [ "${AUTOBUILD_VM_DIAG:-1}" = 1 ]; then
		# Diagnostic only: is it the policy or the engine? Rerun in
		# permissive mode; the AVCs it logs (permissive=1) are what the
		# policy would have denied.
		note "level run failed; rerunning it in PERMISSIVE mode to tell policy denials from engine bugs"
		m=$(avc_mark)
		setenforce 0
		rm -rf /var/lib/autobuild
		timeout 300 /usr/bin/autobuild run --config /srv/ab/config.yaml 2>&1 | cat >"$RESULTS/run-levels-permissive.out"
		prc=${PIPESTATUS[0]}
		setenforce 1
		dmesg | awk -v m="$m" 'index($0, m) {on=1; next} on' | grep -E 'avc: +denied' >"$RESULTS/avc-permissive.txt"
		note "permissive rerun: exit status $prc, $(wc -l <"$RESULTS/avc-permissive.txt") AVCs (avc-permissive.txt)"
		sed -E 's/^.*avc: +//; s/ pid=[0-9]+//; s/ ino=[0-9]+//' "$RESULTS/avc-permissive.txt" | sort -u | head -30 | sed 's/^/CHECK NOTE: permissive avc: /'
		cp -r /var/lib/autobuild/log-root "$RESULTS/engine-logs-permissive" 2>/dev/null
		check "back to enforcing" 1 "$(cat /sys/fs/selinux/enforce)"
	fi
	cp -r /var/lib/autobuild/log-root "$RESULTS/engine-logs" 2>/dev/null
	rm -rf /var/lib/autobuild

	echo "-- attacker module (isolated) against victim"
	m=$(avc_mark)
	timeout 300 /usr/bin/autobuild run --config /srv/ab/attack.yaml 2>&1 | cat >"$RESULTS/run-attack.out"
	note "autobuild run attack.yaml exit status ${PIPESTATUS[0]}"
	check_module attacker autobuild_build_isolated_t "$user:$role"
	att=$(built attacker attempts)
	echo "$att" | sed 's/^/CHECK NOTE: attacker: /'
	if [ -z "$att" ]; then fail "attacker recorded no attempts"
	elif echo "$att" | grep -q ALLOWED; then fail "attacker got access: $(echo "$att" | grep ALLOWED | tr '\n' ';')"
	else pass "attacker denied every cross-module and state access"; fi
	check "victim's source untouched" "" "$(ls /var/lib/autobuild/source-root/victim/pwned 2>/dev/null)"
	# (The attacker's view does not even hold the victim's folders: no AVC
	# here. Part A proves what SELinux alone denies.)
	avc_since "$m" >"$RESULTS/avc-run-attack.txt"
	note "AVCs during the attack: $(wc -l <"$RESULTS/avc-run-attack.txt")"

	echo "-- fail closed: a permissive host, a level whose type the policy lacks"
	setenforce 0
	/usr/bin/autobuild doctor --config /srv/ab/strict.yaml 2>&1 | cat >"$RESULTS/doctor-permissive.txt"
	drc=${PIPESTATUS[0]}
	timeout 120 /usr/bin/autobuild run --config /srv/ab/strict.yaml 2>&1 | cat >"$RESULTS/run-permissive.out"
	prc=${PIPESTATUS[0]}
	setenforce 1
	check "back to enforcing" 1 "$(cat /sys/fs/selinux/enforce)"
	check "permissive: doctor exits 4" 4 "$drc"
	if grep -q 'NO   selinux.*SELinux is permissive' "$RESULTS/doctor-permissive.txt"; then pass "permissive: doctor says selinux NO (permissive)"
	else fail "permissive: doctor: $(grep selinux "$RESULTS/doctor-permissive.txt" | head -3 | tr '\n' ';')"; fi
	check "permissive: autobuild run refuses (exit 4)" 4 "$prc"
	check "permissive: nothing was built" "" "$(ls /var/lib/autobuild/package-root/lvl-isolated/context 2>/dev/null)"
	/usr/bin/autobuild doctor --config /srv/ab/nosuch.yaml 2>&1 | cat >"$RESULTS/doctor-nosuch.txt"
	check "a level whose type the policy lacks: doctor exits 4" 4 "${PIPESTATUS[0]}"
	if grep -q 'NO   selinux.*autobuild_nosuch_t.*not a valid context' "$RESULTS/doctor-nosuch.txt"; then pass "doctor names the context the policy lacks"
	else fail "doctor on a missing type: $(grep selinux "$RESULTS/doctor-nosuch.txt" | head -3 | tr '\n' ';')"; fi
	for cfg in nosuch nosuch-weak; do
		timeout 120 /usr/bin/autobuild run --config /srv/ab/$cfg.yaml 2>&1 | cat >"$RESULTS/run-$cfg.out"
		check "a level whose type the policy lacks ($cfg.yaml): autobuild run exits 4" 4 "${PIPESTATUS[0]}"
	done
	check "a level whose type the policy lacks: its build never ran" "" "$(ls /var/lib/autobuild/package-root/denied-level/context 2>/dev/null)"

	echo "-- autobuild-secure run"
	m=$(avc_mark)
	(timeout 300 /usr/bin/autobuild-secure run --config /srv/ab/secure.yaml 2>&1 | cat >"$RESULTS/run-secure.out"; echo "${PIPESTATUS[0]}" >"$RESULTS/run-secure.rc") &
	engine_ps "$RESULTS/ps-secure.txt" $!
	wait
	check "autobuild-secure run exit status" 0 "$(cat "$RESULTS/run-secure.rc")"
	sort -u "$RESULTS/ps-secure.txt" | sed 's/^/CHECK NOTE: ps: /' | head -10
	if grep -Eq ':autobuild_t:s0 +[0-9]+ +[0-9]+ /usr/bin/autobuild-secure run' "$RESULTS/ps-secure.txt"; then pass "autobuild-secure runs the engine in autobuild_t at s0"
	else fail "autobuild-secure: no engine seen in autobuild_t at s0"; fi
	check_module secure autobuild_build_isolated_t "$user:$role"
	check_module sec-lib autobuild_build_isolated_t "$user:$role"
	check_module sec-app autobuild_build_isolated_t "$user:$role"
	check_module sec-unconfined autobuild_t "$user:$role"
	check "sec-app (engine in autobuild_t): reads and runs what its dependency installed, and cannot change it" "lib-content tool-ran write: denied add: denied" "$(built sec-app dep | tr '\n' ' ' | sed 's/ $//')"
	for mod in sec-lib sec-unconfined; do
		check "$mod: sealed by the engine in autobuild_t" "autobuild_install_ro_t:s0" "$(stat -c %C /var/lib/autobuild/install-root/$mod | cut -d: -f3-)"
	done
	log=$(ls /var/lib/autobuild/log-root/*/sec-lib.log 2>/dev/null | tail -1)
	if [ -n "$log" ] && grep -qx ok "$log"; then pass "engine in autobuild_t: a step's output reaches its log"
	else fail "engine in autobuild_t: the build's output is not in its log $log"; fi
	avc_since "$m" >"$RESULTS/avc-run-secure.txt"
	note "AVCs during the secure run: $(wc -l <"$RESULTS/avc-run-secure.txt")"

	echo "-- the engine in autobuild_t at s0 via runcon"
	m=$(avc_mark)
	f=$OUTDIR/runcon-secure.out
	: >"$f"
	timeout 300 runcon -t autobuild_t -l s0 /usr/bin/autobuild run --config /srv/ab/runcon.yaml </dev/null >>"$f" 2>&1
	rc=$?
	cp "$f" "$RESULTS/run-runcon-secure.out"
	check "runcon -t autobuild_t -l s0 autobuild run: exit status" 0 "$rc"
	check_module secure-runcon autobuild_build_isolated_t "$user:$role"
	avc_since "$m" >"$RESULTS/avc-run-runcon-secure.txt"
	note "AVCs with the engine in autobuild_t: $(grep -c 'scontext=[^ ]*:autobuild_t:' "$RESULTS/avc-run-runcon-secure.txt") from autobuild_t, $(wc -l <"$RESULTS/avc-run-runcon-secure.txt") in all"
	grep 'scontext=[^ ]*:autobuild' "$RESULTS/avc-run-runcon-secure.txt" | sed -E 's/^.*avc: +//; s/ pid=[0-9]+//; s/ ino=[0-9]+//' | sort -u | head -20 | sed 's/^/CHECK NOTE: avc: /'

	echo "-- a systemd service (init_t execs /usr/bin/autobuild: autobuild_t at s0)"
	m=$(avc_mark)
	printf '[Service]\nType=oneshot\nExecStart=/usr/bin/autobuild run --config /etc/autobuild/autobuild.yaml\nStandardOutput=journal\nStandardError=journal\n' >/run/systemd/system/autobuild-vmtest.service
	systemctl daemon-reload
	(timeout 300 systemctl start autobuild-vmtest.service >"$RESULTS/run-systemd.out" 2>&1; echo $? >"$RESULTS/run-systemd.rc") &
	engine_ps "$RESULTS/ps-systemd.txt" $!
	wait
	check "systemctl start (a oneshot service running autobuild run): exit status" 0 "$(cat "$RESULTS/run-systemd.rc")"
	if grep -Eq '^system_u:system_r:autobuild_t:s0 +[0-9]+ +[0-9]+ /usr/bin/autobuild run' "$RESULTS/ps-systemd.txt"; then pass "the service's engine runs in autobuild_t at s0"
	else fail "the service's engine: $(sort -u "$RESULTS/ps-systemd.txt" | head -3 | tr '\n' ';')"; fi
	journalctl -u autobuild-vmtest --no-pager 2>/dev/null | tail -20 >>"$RESULTS/run-systemd.out"
	check_module systemd autobuild_build_isolated_t "system_u:system_r"
	check "the configuration (/etc/autobuild, autobuild_conf_t) is hidden from the build" 0 "$(built systemd conf)"
	avc_since "$m" >"$RESULTS/avc-run-systemd.txt"
	note "AVCs during the systemd run: $(wc -l <"$RESULTS/avc-run-systemd.txt")"
	sed -E 's/^.*avc: +//; s/ pid=[0-9]+//; s/ ino=[0-9]+//' "$RESULTS/avc-run-systemd.txt" | sort -u | head -10 | sed 's/^/CHECK NOTE: avc: /'

	echo "-- diagnostic (not counted): a non-root engine (user namespaces)"
	rm -rf /var/lib/ab-user
	mkdir -p /var/lib/ab-user
	chown 1500:1500 /var/lib/ab-user
	chcon -t autobuild_var_lib_t /var/lib/ab-user
	mkrepo user-isolated "$record"
	cat >/srv/ab/user.yaml <<-EOF
	build_root: /var/lib/ab-user/root
	workers: 1
	allow_weaker_confinement: true
	modules:
	  - {name: user-isolated, source: {url: $G/user-isolated}, trust: isolated}
	EOF
	m=$(avc_mark)
	HOME=/var/lib/ab-user timeout 300 setpriv --reuid=1500 --regid=1500 --clear-groups /usr/bin/autobuild run --config /srv/ab/user.yaml </dev/null 2>&1 | cat >"$RESULTS/run-user.out"
	rc=${PIPESTATUS[0]}
	cp -r /var/lib/ab-user/root/log-root "$RESULTS/engine-logs-user" 2>/dev/null
	note "non-root engine: exit status $rc; the build recorded '$(tr -d '\0' </var/lib/ab-user/root/package-root/user-isolated/context 2>/dev/null)' uid '$(cat /var/lib/ab-user/root/package-root/user-isolated/uid 2>/dev/null)'"
	avc_since "$m" >"$RESULTS/avc-run-user.txt"
	note "non-root engine: $(wc -l <"$RESULTS/avc-run-user.txt") AVCs"
	sed -E 's/^.*avc: +//; s/ pid=[0-9]+//; s/ ino=[0-9]+//' "$RESULTS/avc-run-user.txt" | sort -u | head -20 | sed 's/^/CHECK NOTE: avc: /'

	# The isolation suite the host runs: the hostile modules, the steps'
	# views, the SCM metadata and publish attacks, the engine-kill reaper,
	# inherited descriptors and secure mode (here: autobuild_t). Skips are
	# failures (AUTOBUILD_TEST_DISALLOW_SKIP). TCG is ~10x slower than the
	# host: the engine-kill test kills 20 engines instead of 100.
	e2e_run='^(TestHostile.*|TestIsolatedBuildSeesOnlyItsView|TestIsolationControl|TestEngineFilesUnderASystemFolderAreHidden|TestBuildCannotSteerTheNextCheckout(Control)?|TestBuildCannotLockItsCheckout|TestPublishedArtifactOutlivesItsBuild|TestPublishSurvivesALongArtifactPath|TestPublishIgnoresLogsNamedOutsideTheLogFolder|TestNoSurvivorsAfterEngineKill|TestInheritedDescriptorsDoNotReachSteps|TestSecureMode.*|TestTestAutoBuildScripts|TestTestAutoBuildHostileScript|TestMergedInstallRootRefused)$'
	e2e_env="AUTOBUILD_BIN=$ab AUTOBUILD_TEST_DISALLOW_SKIP=1 AUTOBUILD_KILL_TEST_COUNT=20 TMPDIR=/var/tmp/e2e"
	echo "-- e2e isolation suite (the payload's binary, bin_t: the engine stays in unconfined_t; --secure: autobuild_t)"
	if [ ! -x "$ci/e2e.test" ]; then
		fail "e2e: no e2e.test in the payload"
	else
		mkdir -p /var/tmp/e2e && chmod 0755 /var/tmp/e2e
		m=$(avc_mark)
		(cd /var/tmp/e2e && env $e2e_env \
			timeout 600 "$ci/e2e.test" -test.v -test.run "$e2e_run" -test.timeout 540s) >"$RESULTS/e2e.out" 2>&1
		rc=$?
		grep -E '^ *(--- (PASS|FAIL|SKIP)|PASS|FAIL|ok)' "$RESULTS/e2e.out" | sed 's/^/CHECK NOTE: e2e: /' | head -80
		if [ "$rc" = 0 ] && grep -q -- '--- PASS' "$RESULTS/e2e.out"; then pass "e2e isolation suite"
		elif [ "$rc" = 0 ]; then fail "e2e isolation suite ran no test (testing: warning: no tests to run?)"
		else fail "e2e isolation suite exit status $rc"; awk '/^=== RUN/ && !/\// {b=""} {b=b $0 "\n"} /^--- FAIL/ {printf "%s", b; b=""}' "$RESULTS/e2e.out" | head -200 | sed 's/^/CHECK NOTE: e2e: /'; fi
		avc_since "$m" >"$RESULTS/avc-e2e.txt"
		note "AVCs during e2e: $(wc -l <"$RESULTS/avc-e2e.txt")"
		if [ "$rc" != 0 ] && [ "${AUTOBUILD_VM_DIAG:-1}" = 1 ]; then
			# Diagnostic: rerun with dontaudit rules off and in permissive
			# mode; every AVC it logs is something the policy would deny.
			note "e2e failed: rerunning it permissive with dontaudit off (semodule -DB) for the full denial list"
			semodule -DB 2>/dev/null
			m=$(avc_mark)
			setenforce 0
			(cd /var/tmp/e2e && env $e2e_env \
				timeout 600 "$ci/e2e.test" -test.v -test.run "$e2e_run" -test.timeout 540s) >"$RESULTS/e2e-permissive.out" 2>&1
			note "e2e permissive rerun: exit status $?"
			setenforce 1
			dmesg | awk -v m="$m" 'index($0, m) {on=1; next} on' | grep -E 'avc: +denied' >"$RESULTS/avc-e2e-permissive.txt"
			semodule -B 2>/dev/null
			check "back to enforcing" 1 "$(cat /sys/fs/selinux/enforce)"
			grep 'scontext=[^ ]*:autobuild' "$RESULTS/avc-e2e-permissive.txt" | sed -E 's/^.*avc: +//; s/ pid=[0-9]+//; s/ ino=[0-9]+//; s/ (path|name)="[^"]*"//' |
				sort | uniq -c | sort -rn | head -40 | sed 's/^/CHECK NOTE: permissive avc: /'
		fi
	fi
fi

echo "CHECK SUMMARY: pass=$npass fail=$nfail"
[ "$nfail" = 0 ]
