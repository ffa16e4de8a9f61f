# Sourced by the scripts: installs what a fresh Debian 12 machine lacks.
# Only apt-get, only when something is missing, so a warm machine pays nothing.
# irqlink_deps [extra packages...]: what every script needs, plus those.
irqlink_deps() {
	local want=(gcc meson ninja-build pkg-config libcmocka-dev libjson-c-dev gdb "$@")
	local missing=()
	local p
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
			|| missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "irqlink: installing ${missing[*]}" >&2
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# irqlink_build DIR [meson setup args...]: configure once, then build.
# Quiet when it works; on failure, the tool's whole output goes to stderr.
irqlink_build() {
	local dir=$1; shift
	local out
	if [ ! -f "$dir/build.ninja" ]; then
		if ! out=$(meson setup "$dir" "$@" 2>&1); then
			printf '%s\n' "$out" >&2
			echo "irqlink: meson setup $dir failed" >&2
			return 1
		fi
	fi
	if ! out=$(ninja -C "$dir" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "irqlink: build in $dir failed" >&2
		return 1
	fi
}
