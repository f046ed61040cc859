# nb2svc runtime base: remove what a model server never runs (docs/architecture.md,
# "Base images"). Runs as root in the upgraded Debian image (base-runtime.Containerfile).
# Kept: python3 with its whole standard library's libraries, sh, bash, coreutils, tar, tini,
# ca-certificates, libgomp1, libstdc++, tzdata, and dpkg with an accurate package database
# (`dpkg-query -W` lists what the image holds, for scanners). Fails if anything kept cannot
# load its libraries afterwards.
set -eu
export DEBIAN_FRONTEND=noninteractive
packages=""
late=""
for package in $(dpkg-query -W -f '${Package}\n'); do
    case "$package" in
        # apt and its signature checking, TLS and crypto stack: nothing installs in the image
        apt | libapt-pkg* | gpgv | sqv | debian-archive-keyring | libgnutls* | libp11-kit* \
            | libtasn1-* | libnettle* | libhogweed* | libidn2-* | libunistring* \
            | libgcrypt* | libgpg-error* | libxxhash* | libsystemd* | liblz4-* | libudev*) ;;
        # users, logins and PAM: the image runs as one numeric uid, never logs anyone in
        adduser | passwd | login | login.defs | libpam* | libsemanage* | libsepol* \
            | libaudit* | libcap-ng*) ;;
        # disks, mounts and init: a container has none of its own
        util-linux* | mount | libmount* | libblkid* | libsmartcols* | e2fsprogs \
            | libext2fs* | libss2 | logsave | sysvinit-utils | bsdutils) ;;
        # what the maintainer scripts of the others run: purged last, one at a time
        debconf | init-system-helpers | perl-base)
            late="$late $package"
            continue
            ;;
        *) continue ;;
    esac
    packages="$packages $package"
done
# A package that a kept one depends on stays, with what it needs in turn (trixie's coreutils
# depends on libsystemd0; bookworm's and bullseye's kept packages need none of the above).
deps=$(dpkg-query -W -f '${Package}\t${Pre-Depends}, ${Depends}\n')
kept_needs() {
    printf '%s\n' "$deps" | while IFS="$(printf '\t')" read -r owner needs; do
        case " $packages $late " in *" $owner "*) continue ;; esac
        if printf '%s\n' "$needs" | tr ',|' '\n\n' | sed 's/^ *//; s/[ :(].*//' | grep -qx "$1"; then
            echo yes
            break
        fi
    done | grep -q yes
}
changed=1
while [ "$changed" = 1 ]; do
    changed=0
    for package in $packages; do
        if kept_needs "$package"; then
            echo "nb2svc: keeping $package: a kept package depends on it"
            # shellcheck disable=SC2086 # the list is words
            packages=$(printf '%s\n' $packages | grep -vx "$package" | tr '\n' ' ')
            changed=1
        fi
    done
done
# --force-remove-protected: trixie marks login Protected
# shellcheck disable=SC2086 # the lists are words
dpkg --purge --force-remove-essential --force-remove-protected --force-depends $packages
for package in $late; do
    dpkg --purge --force-remove-essential --force-remove-protected --force-depends "$package"
done
# glibc's iconv modules (Python's codecs are its own), the standard library's own test
# suite and pydoc's topic texts, leftovers of the purged packages and their logs
rm -rf /usr/lib/*-linux-gnu/gconv /usr/lib/python3*/test /usr/lib/python3*/pydoc_data \
    /usr/share/lintian /usr/share/bash-completion /var/cache/debconf /var/cache/apt \
    /var/lib/apt /etc/apt /var/lib/systemd /etc/systemd /usr/lib/udev /usr/lib/systemd \
    /etc/rc?.d /etc/security /var/lib/pam /var/log/*
if [ -n "$(dpkg --audit)" ]; then
    dpkg --audit
    exit 1
fi
broken=0
for file in /usr/bin/* /usr/sbin/* /usr/lib/python3*/lib-dynload/*.so /usr/lib/*-linux-gnu/*.so*; do
    if ldd "$file" 2>/dev/null | grep -q "not found"; then
        echo "nb2svc: $file cannot load: $(ldd "$file" | grep 'not found' | tr -s ' \t\n' ' ')"
        broken=1
    fi
done
exit "$broken"
