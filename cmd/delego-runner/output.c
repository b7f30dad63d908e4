/* output: what the commands print for a person, and the warnings they share. */
#include "commands.h"
#include "delego/config.h"
#include "delego/doctor.h"
#include "delego/log.h"
#include "delego/text.h"
#include "delego/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void dr_cmd_out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *raw = dr_xvasprintf(fmt, ap);
	va_end(ap);
	char *safe = dr_text_escape(raw, DR_TEXT_KEEP_NL | DR_TEXT_KEEP_TAB);
	fputs(safe, stdout);
	free(safe);
	free(raw);
}

void dr_cmd_warn_root(const struct dr_config *c)
{
	if (geteuid() != 0 || !dr_config_supports(c, DR_EXECUTOR_CLAUDE))
		return;
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_check_root(&d, 0, true);
	dr_log_warn("%s; %s", d.items[0].detail, d.items[0].fix);
	dr_doctor_release(&d);
}
