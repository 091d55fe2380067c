#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages cdc needs to build and test.
#
#   scripts/deps.sh [--check] [GROUP...]
#
# GROUPs: build (compiler, headers), test (PostgreSQL, a JDK and Maven for
# the OpenSearch, Elasticsearch and Kafka test servers, prove, jq, curl,
# kcat and python3-confluent-kafka for the Kafka tests, systemd for
# systemd-analyze on the shipped units), fuzz (clang,
# sanitizer runtimes, valgrind), bench (hyperfine; strace and perf count
# system calls).  No GROUP means all of
# them.  Elasticsearch 9 needs a JDK 21 or newer, which Debian 12 does not
# package: the project's machines have one under /usr/lib/jvm.
#
# Only missing packages are installed, and `apt-get update` runs only when
# something is missing, so a second run takes a fraction of a second.
# As root it uses apt-get directly; otherwise `sudo -n` when that works
# without a password; otherwise it prints the command to run and exits 1.
# --check installs nothing: it lists what is missing and exits 1 if
# anything is.
#
# A package written "a|b" is satisfied by either; when neither is
# installed, the first one that apt can install is chosen.
set -euo pipefail

prog=deps.sh

# The packages of each group.
group_pkgs() {
	case $1 in
	build) echo "build-essential pkg-config libpq-dev libjq-dev libcurl4-openssl-dev liblz4-dev zlib1g-dev
		librdkafka-dev libjemalloc-dev" ;;
	test) echo "postgresql lz4 jq curl perl python3 util-linux maven
		openjdk-17-jdk-headless|default-jdk-headless kcat python3-confluent-kafka systemd" ;;
	fuzz) echo "clang libclang-rt-14-dev|libclang-rt-dev valgrind" ;;
	bench) echo "hyperfine strace linux-perf|linux-tools-generic" ;;
	esac
}

usage() {
	echo "usage: scripts/deps.sh [--check] [build|test|fuzz|bench|all]..."
}

check_only=0
groups=()
for arg in "$@"; do
	case $arg in
	--check) check_only=1 ;;
	-h|--help) usage; exit 0 ;;
	build|test|fuzz|bench) groups+=("$arg") ;;
	all) groups+=(build test fuzz bench) ;;
	*) echo "$prog: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
	esac
done
[ ${#groups[@]} -gt 0 ] || groups=(build test fuzz bench)

wanted=()
for g in "${groups[@]}"; do
	read -r -d '' -a more < <(group_pkgs "$g") || :
	wanted+=("${more[@]}")
done

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$prog: dpkg-query not found: this script knows Debian and Ubuntu only." >&2
	echo "$prog: install the equivalents of: ${wanted[*]}" >&2
	exit 1
fi

# One dpkg-query call for every name involved (fast); names dpkg has never
# heard of are simply absent from its output.
all_names=()
for w in "${wanted[@]}"; do
	IFS='|' read -r -a alts <<<"$w"
	all_names+=("${alts[@]}")
done
# dpkg-query exits 1 when some name is unknown; that is not an error here.
installed=" $({ dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${all_names[@]}" 2>/dev/null || :; } |
	awk '$2 == "ii" { printf "%s ", $1 }') "

missing=()
for w in "${wanted[@]}"; do
	IFS='|' read -r -a alts <<<"$w"
	have=0
	for a in "${alts[@]}"; do
		case $installed in *" $a "*) have=1 ;; esac
	done
	[ "$have" = 1 ] || missing+=("$w")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$check_only" = 1 ]; then
	echo "$prog: missing packages: ${missing[*]}" >&2
	exit 1
fi

if [ "$(id -u)" = 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo -n)
else
	names=()
	for w in "${missing[@]}"; do names+=("${w%%|*}"); done
	echo "$prog: these Debian packages are missing: ${missing[*]}" >&2
	echo "$prog: not root and no password-less sudo; please run:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y ${names[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

echo "$prog: installing missing packages: ${missing[*]}" >&2
"${apt[@]}" update </dev/null >&2

# Resolve alternatives now that the package lists are fresh.
install=()
for w in "${missing[@]}"; do
	IFS='|' read -r -a alts <<<"$w"
	pick=""
	for a in "${alts[@]}"; do
		cand=$(apt-cache policy "$a" 2>/dev/null | awk '/Candidate:/ { print $2 }')
		if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
			pick=$a
			break
		fi
	done
	install+=("${pick:-${alts[0]}}")
done

"${apt[@]}" install --no-install-recommends "${install[@]}" </dev/null >&2
echo "$prog: installed: ${install[*]}" >&2
