/*
 * fence_rule: the fence process's messages and decisions (see fence_rule.h).
 */
#include "fence_rule.h"

#include <string.h>

#define FENCE_MAGIC 0x4e464c46u /* "FLFN" */

void fence_msg_encode(const fence_msg *m, unsigned char out[FENCE_MSG_SIZE])
{
	uint32_t magic = FENCE_MAGIC, kind = (uint32_t)m->kind, pad = 0;
	memcpy(out, &magic, 4);
	memcpy(out + 4, &kind, 4);
	memcpy(out + 8, &m->pid, 4);
	memcpy(out + 12, &pad, 4);
	memcpy(out + 16, &m->deadline_ns, 8);
}

int fence_msg_decode(const unsigned char in[FENCE_MSG_SIZE], fence_msg *m, const char **why)
{
	uint32_t magic, kind, pad;
	memcpy(&magic, in, 4);
	memcpy(&kind, in + 4, 4);
	memcpy(&pad, in + 12, 4);
	memset(m, 0, sizeof *m);
	if (magic != FENCE_MAGIC || pad != 0) {
		*why = "not a fence message (bad magic)";
		return -1;
	}
	if (kind == FENCE_DISARM) {
		m->kind = FENCE_DISARM;
		return 0;
	}
	if (kind != FENCE_ARM) {
		*why = "unknown message kind";
		return -1;
	}
	memcpy(&m->pid, in + 8, 4);
	memcpy(&m->deadline_ns, in + 16, 8);
	if (m->pid <= 1) {
		*why = "ARM names no postmaster pid";
		return -1;
	}
	if (m->deadline_ns <= 0) {
		*why = "ARM has no deadline";
		return -1;
	}
	m->kind = FENCE_ARM;
	return 0;
}

void fence_apply(fence_state *s, const fence_msg *m)
{
	if (m->kind == FENCE_ARM) {
		s->armed = true;
		s->pid = m->pid;
		s->deadline_ns = m->deadline_ns;
	} else {
		s->armed = false;
		s->pid = 0;
		s->deadline_ns = 0;
	}
}

int fence_watchdog_timeout(long ttl) { return ttl > 2 ? (int)(ttl - 1) : 1; }

int64_t fence_watchdog_pet_until(int64_t deadline_ns, int timeout_s)
{
	return deadline_ns + 500000000LL - 250000000LL - (int64_t)timeout_s * 1000000000LL;
}

fence_step fence_due(const fence_state *s, int64_t now_ns, bool agent_gone)
{
	if (s->armed && (agent_gone || now_ns >= s->deadline_ns))
		return FENCE_FIRE;
	return agent_gone ? FENCE_EXIT : FENCE_WAIT;
}
