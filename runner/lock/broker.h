/*
 * The lock broker's conversation (docs/locks.md), shared by its two sides: the broker that
 * `berth run` serves for each stage (job/lock_broker.c) and its client, the `lock_broker`
 * backend (lock/broker.c) berth uses in a job's scripts.
 *
 * Over a SOCK_SEQPACKET socket (one record a message) in the job's workspace, the script's
 * berth sends one request, "lock TIMEOUT KEY" or "list". The broker answers with records:
 * berth's messages, as the script's berth prints them ("berth: ..."), the lock listing as JSON
 * objects, and last the result, LOCK_BROKER_RESULT_MARK and its class's byte, which carries
 * the ticket's descriptor when a lock was taken.
 */
#ifndef LOCK_BROKER_PROTOCOL_H
#define LOCK_BROKER_PROTOCOL_H

#include "base/berth.h"

/* The socket, in the job's workspace: the scripts' berth finds it through BERTH_JOB_DIR. */
#define LOCK_BROKER_SOCKET "lock.sock"

#define LOCK_BROKER_REQUEST_MAX 256
#define LOCK_BROKER_RECORD_MAX	8192
#define LOCK_BROKER_RESULT_MARK '\0'

/* A result's class byte, by enum berth_result (BERTH_OK to BERTH_SYSTEM_FAILURE). */
extern const char lock_broker_result_class[3];

#endif
