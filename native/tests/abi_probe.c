/* Prints, as JSON, the layout of every struct that crosses the link and the ABI values the C
 * code was built with, so tests/unit/test_abi.py can check them against the Python side
 * (server/gametap/link/protocol.py, server/gametap/q3/abi.py). Built by the test itself. */
#include <stddef.h>
#include <stdio.h>

#include "gametap_link.h"

#define FIELD(type, f) printf("\"%s.%s\": [%zu, %zu], ", #type, #f, offsetof(type, f), sizeof(((type *)0)->f))
#define SIZE(type) printf("\"%s\": %zu, ", #type, sizeof(type))
#define VALUE(name) printf("\"%s\": %lld, ", #name, (long long)(name))

int main(void)
{
    printf("{");
    SIZE(gt_msg_header_t);
    FIELD(gt_msg_header_t, size);
    FIELD(gt_msg_header_t, type);
    FIELD(gt_msg_header_t, reserved);
    SIZE(gt_frame_header_t);
    FIELD(gt_frame_header_t, frame);
    FIELD(gt_frame_header_t, level_time_ms);
    FIELD(gt_frame_header_t, n_players);
    FIELD(gt_frame_header_t, n_entities);
    FIELD(gt_frame_header_t, n_configstrings);
    FIELD(gt_frame_header_t, flags);
    FIELD(gt_frame_header_t, log_size);
    FIELD(gt_frame_header_t, n_commands);
    FIELD(gt_frame_header_t, n_usercmds);
    FIELD(gt_frame_header_t, n_visibility);
    FIELD(gt_frame_header_t, n_applied);
    FIELD(gt_frame_header_t, reserved2);
    SIZE(gt_player_record_t);
    FIELD(gt_player_record_t, client);
    FIELD(gt_player_record_t, reserved);
    FIELD(gt_player_record_t, ps);
    SIZE(gt_entity_record_t);
    FIELD(gt_entity_record_t, number);
    FIELD(gt_entity_record_t, reserved);
    FIELD(gt_entity_record_t, state);
    FIELD(gt_entity_record_t, shared);
    SIZE(gt_usercmd_record_t);
    FIELD(gt_usercmd_record_t, client);
    FIELD(gt_usercmd_record_t, reserved);
    FIELD(gt_usercmd_record_t, usercmd);
    SIZE(gt_control_header_t);
    FIELD(gt_control_header_t, run_until);
    FIELD(gt_control_header_t, n_actions);
    FIELD(gt_control_header_t, reserved);
    SIZE(gt_waiting_t);
    FIELD(gt_waiting_t, frame);
    FIELD(gt_waiting_t, busy_us);
    SIZE(gt_action_record_t);
    FIELD(gt_action_record_t, client);
    FIELD(gt_action_record_t, flags);
    FIELD(gt_action_record_t, weapon);
    FIELD(gt_action_record_t, forward);
    FIELD(gt_action_record_t, right);
    FIELD(gt_action_record_t, up);
    FIELD(gt_action_record_t, buttons);
    FIELD(gt_action_record_t, angles);
    FIELD(gt_action_record_t, reserved);
    VALUE(GT_LINK_PROTOCOL_VERSION);
    VALUE(GT_LINK_MAX_PAYLOAD);
    VALUE(GT_RUN_FREE);
    VALUE(GT_FRAME_CAPTURED);
    VALUE(GT_FRAME_RESET);
    VALUE(GT_ACTION_OVERRIDE);
    VALUE(GT_ACTION_VISIBILITY);
    VALUE(GT_MSG_HELLO);
    VALUE(GT_MSG_WAITING);
    VALUE(GT_PLAYERSTATE_SIZE);
    VALUE(GT_ENTITYSTATE_SIZE);
    VALUE(GT_ENTITYSHARED_OFFSET);
    VALUE(GT_ENTITYSHARED_SIZE);
    VALUE(GT_USERCMD_SIZE);
    VALUE(Q3_PS_ORIGIN);
    VALUE(Q3_PS_DELTA_ANGLES);
    VALUE(Q3_PS_VIEWHEIGHT);
    VALUE(Q3_ESH_CURRENTORIGIN);
    VALUE(Q3_CMD_FORWARDMOVE);
    printf("\"end\": 0}\n");
    return 0;
}
