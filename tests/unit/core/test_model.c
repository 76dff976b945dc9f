/* The domain's names (core/model.c): every enum value has a name that parses back to it,
 * anything else is refused and leaves the output alone, and the stream channels' names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/model.h"

static void test_role_names_round_trip(void **state)
{
    (void)state;
    const char *want[] = {"customer", "mechanic", "admin"};
    for (int i = PW_ROLE_CUSTOMER; i <= PW_ROLE_ADMIN; i++) {
        assert_string_equal(pw_role_name((enum pw_role)i), want[i]);
        enum pw_role r = PW_ROLE_ADMIN + 1;
        assert_true(pw_role_parse(want[i], &r));
        assert_int_equal(r, i);
    }
    enum pw_role r = PW_ROLE_MECHANIC;
    assert_false(pw_role_parse("Admin", &r)); /* names are exact: no case folding */
    assert_false(pw_role_parse("", &r));
    assert_false(pw_role_parse("customer ", &r));
    assert_int_equal(r, PW_ROLE_MECHANIC);
}

static void test_presence_names_round_trip(void **state)
{
    (void)state;
    const char *want[] = {"offline", "online", "busy"};
    for (int i = PW_OFFLINE; i <= PW_BUSY; i++) {
        assert_string_equal(pw_presence_name((enum pw_presence_state)i), want[i]);
        enum pw_presence_state p = PW_BUSY + 1;
        assert_true(pw_presence_parse(want[i], &p));
        assert_int_equal(p, i);
    }
    enum pw_presence_state p = PW_ONLINE;
    assert_false(pw_presence_parse("away", &p));
    assert_false(pw_presence_parse("ONLINE", &p));
    assert_int_equal(p, PW_ONLINE);
}

static void test_mechanic_status_names_round_trip(void **state)
{
    (void)state;
    const char *want[] = {"pending", "approved", "suspended"};
    for (int i = PW_MECH_PENDING; i <= PW_MECH_SUSPENDED; i++) {
        assert_string_equal(pw_mechanic_status_name((enum pw_mechanic_status)i), want[i]);
        enum pw_mechanic_status s = PW_MECH_SUSPENDED + 1;
        assert_true(pw_mechanic_status_parse(want[i], &s));
        assert_int_equal(s, i);
    }
    enum pw_mechanic_status s = PW_MECH_APPROVED;
    assert_false(pw_mechanic_status_parse("banned", &s));
    assert_int_equal(s, PW_MECH_APPROVED);
}

static void test_session_state_names_round_trip(void **state)
{
    (void)state;
    const char *want[] = {"awaiting_payment", "priority", "broadcast", "accepted", "ended",
                          "cancelled",        "expired"};
    for (int i = PW_SESSION_AWAITING_PAYMENT; i <= PW_SESSION_EXPIRED; i++) {
        assert_string_equal(pw_session_state_name((enum pw_session_state)i), want[i]);
        enum pw_session_state s = PW_SESSION_EXPIRED + 1;
        assert_true(pw_session_state_parse(want[i], &s));
        assert_int_equal(s, i);
    }
    enum pw_session_state s = PW_SESSION_ENDED;
    assert_false(pw_session_state_parse("canceled", &s)); /* the spelling is "cancelled" */
    assert_false(pw_session_state_parse("awaiting payment", &s));
    assert_int_equal(s, PW_SESSION_ENDED);
}

static void test_offer_names(void **state)
{
    (void)state;
    assert_string_equal(pw_offer_kind_name(PW_OFFER_PRIORITY), "priority");
    assert_string_equal(pw_offer_kind_name(PW_OFFER_BROADCAST), "broadcast");
    assert_null(pw_offer_outcome_name(PW_OFFER_LIVE)); /* a live offer has no outcome yet */
    assert_string_equal(pw_offer_outcome_name(PW_OFFER_ACCEPTED), "accepted");
    assert_string_equal(pw_offer_outcome_name(PW_OFFER_DECLINED), "declined");
    assert_string_equal(pw_offer_outcome_name(PW_OFFER_EXPIRED), "expired");
    assert_string_equal(pw_offer_outcome_name(PW_OFFER_WITHDRAWN), "withdrawn");
}

static void test_channel_names(void **state)
{
    (void)state;
    assert_string_equal(pw_channel_kind_name(PW_CHANNEL_PRESENCE), "presence");
    assert_string_equal(pw_channel_kind_name(PW_CHANNEL_MECHANIC), "mechanic");
    assert_string_equal(pw_channel_kind_name(PW_CHANNEL_SESSION), "session");
    char ch[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_PRESENCE, "m1", ch);
    assert_string_equal(ch, "presence:m1");
    pw_channel_name(PW_CHANNEL_MECHANIC, "m1", ch);
    assert_string_equal(ch, "mechanic:m1");
    /* the longest kind with the longest id fits whole */
    char id[PW_ID_LEN + 1];
    memset(id, 'a', PW_ID_LEN);
    id[PW_ID_LEN] = '\0';
    pw_channel_name(PW_CHANNEL_SESSION, id, ch);
    assert_int_equal(strlen(ch), strlen("session:") + PW_ID_LEN);
    assert_memory_equal(ch, "session:", 8);
    assert_string_equal(ch + 8, id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_names_round_trip),
        cmocka_unit_test(test_presence_names_round_trip),
        cmocka_unit_test(test_mechanic_status_names_round_trip),
        cmocka_unit_test(test_session_state_names_round_trip),
        cmocka_unit_test(test_offer_names),
        cmocka_unit_test(test_channel_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
