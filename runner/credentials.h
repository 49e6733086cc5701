/* prepare's credential step: the job's kubeconfig and registry logins, checked online. */
#ifndef CREDENTIALS_H
#define CREDENTIALS_H

#include "berth.h"
#include "settings.h"
#include "vars.h"
#include "workspace.h"

enum berth_result credentials_prepare(const struct settings *s, const struct workspace *ws);

#endif
