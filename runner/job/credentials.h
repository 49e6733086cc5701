/* prepare's credential step: the job's kubeconfig and registry logins, checked online. */
#ifndef CREDENTIALS_H
#define CREDENTIALS_H

#include "base/berth.h"
#include "conf/settings.h"
#include "conf/vars.h"
#include "job/workspace.h"

enum berth_result credentials_prepare(const struct settings *s, const struct workspace *ws);

#endif
