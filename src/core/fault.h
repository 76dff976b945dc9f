/* Fault injection for the torture test (docs/internals/torture.md). Only the pitwall-torture
 * executable is compiled with PW_FAULT_INJECTION: there the store's dispatch point asks
 * pw_fault_store() whether this call is the one that fails. In every other build the hook is
 * an empty statement, so production pays nothing for it. */
#ifndef PW_FAULT_H
#define PW_FAULT_H

#include "core/error.h"

#ifdef PW_FAULT_INJECTION
/* PW_ESTORE when the torture harness armed a store fault and this is the Nth call since. */
pw_err pw_fault_store(void);
/* The injected error, or PW_OK: for a call that must clean up before it returns. */
#define PW_FAULT_STORE_ERR() pw_fault_store()
#define PW_FAULT_STORE()                                                                           \
    do {                                                                                           \
        pw_err fault_e_ = pw_fault_store();                                                        \
        if (fault_e_) return fault_e_;                                                             \
    } while (0)
#else
#define PW_FAULT_STORE_ERR() PW_OK
#define PW_FAULT_STORE() ((void)0)
#endif

#endif
