/*
 * A stand-in for macOS's <libproc.h>, for `make check-portable` on Linux:
 * the declarations lib/ uses under __APPLE__, as Apple's SDK spells them,
 * so that those branches are compiled (never linked) here.
 */
#ifndef DR_STUB_LIBPROC_H
#define DR_STUB_LIBPROC_H
#include <stdint.h>

#define PROC_PIDTBSDINFO 3

struct proc_bsdinfo {
	uint32_t pbi_flags;
	uint32_t pbi_status;
	uint32_t pbi_xstatus;
	uint32_t pbi_pid;
	uint32_t pbi_ppid;
	uint32_t pbi_uid;
	uint32_t pbi_gid;
	uint32_t pbi_ruid;
	uint32_t pbi_rgid;
	uint32_t pbi_svuid;
	uint32_t pbi_svgid;
	uint32_t rfu_1;
	char pbi_comm[16];
	char pbi_name[32];
	uint32_t pbi_nfiles;
	uint32_t pbi_pgid;
	uint32_t pbi_pjobc;
	uint32_t e_tdev;
	uint32_t e_tpgid;
	int32_t pbi_nice;
	uint64_t pbi_start_tvsec;
	uint64_t pbi_start_tvusec;
};

int proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer, int buffersize);

#endif
