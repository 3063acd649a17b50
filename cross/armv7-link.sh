#!/bin/sh
# Linker for armv7-unknown-linux-gnueabihf: the cross gcc driver (it knows the glibc sysroot
# and crt files) with LLD, Rust's own rust-lld, instead of GNU ld.
#
# Why: in ssd-edge's binary (27 MB, with branch stubs) GNU ld 2.40 wrote the R_ARM_IRELATIVE
# relocations of static glibc's memcpy and memchr IFUNCs without the Thumb bit of their
# resolvers; small programs linked the same way keep it. glibc's start-up then called the
# Thumb resolver in ARM state and the binary died with SIGSEGV before its first system call
# (seen under qemu-arm; a board runs the same relocations). LLD writes the bit.
sysroot=$(rustc --print sysroot) || exit 1
exec arm-linux-gnueabihf-gcc -B"$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld" \
    -fuse-ld=lld "$@"
