#include "core/error.h"

static const struct {
    int status;
    const char *code;
    const char *message;
} table[PW_ERROR_COUNT] = {
#define PW_ERROR_ROW(name, status, code, message) [name] = {status, code, message},
    PW_ERRORS(PW_ERROR_ROW)
#undef PW_ERROR_ROW
};

static pw_err clamp(pw_err e)
{
    return (unsigned)e < PW_ERROR_COUNT ? e : PW_EINTERNAL;
}

int pw_err_status(pw_err e)
{
    return table[clamp(e)].status;
}

const char *pw_err_code(pw_err e)
{
    return table[clamp(e)].code;
}

const char *pw_err_message(pw_err e)
{
    return table[clamp(e)].message;
}
