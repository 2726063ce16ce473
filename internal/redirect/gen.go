package redirect

// The eBPF programs live in bpf/ as C; bpf2go compiles them and generates the Go bindings
// (bpf_bpfel.go, bpf_bpfel.o), which are committed so `go build` needs no clang. Run it
// through `make generate`, which sets BPF_ASM_INCLUDE to the host's multiarch include
// directory (where <asm/types.h> lives on Debian).
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -idirafter $BPF_ASM_INCLUDE" -target bpfel -type sluice_config -type sluice_tuple -type sluice_origin -type sluice_sock_state -type sluice_cidr4_key -type sluice_cidr6_key bpf ../../bpf/redirect.c -- -I../../bpf
