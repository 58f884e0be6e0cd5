"""Claims: new players go to the oldest request of their name; a withdrawn request's player is
kicked, never handed to a later request (the ghosts of issue 10)."""
from gametap.core.game import Slot
from gametap.worker.agents.claims import Claims


def slot(name: str) -> Slot:
    return Slot(name=name, pvs=False, addbot_command=f"addbot sarge 3 free 0 {name}")


def test_players_go_to_requests_in_the_order_asked():
    claims = Claims()
    first, second = slot("agent"), slot("agent")
    claims.ask(first, present=[0], until=10)
    claims.ask(second, present=[0], until=10)
    got, unwanted = claims.match([(0, "agent", True), (1, "agent", True)], taken=set(), now=1)
    assert got == [first] and first.client == 1 and unwanted == []  # client 0 was there before: not ours
    got, _ = claims.match([(0, "agent", True), (1, "agent", True), (2, "agent", True)], taken={1}, now=2)
    assert got == [second] and second.client == 2 and not claims.pending


def test_a_withdrawn_request_s_player_is_kicked_not_given_to_the_next():
    claims = Claims()
    gone, later = slot("agent"), slot("agent")
    claims.ask(gone, present=[], until=10)
    claims.withdraw([gone])
    claims.ask(later, present=[], until=10)
    got, unwanted = claims.match([(3, "agent", True)], taken=set(), now=1)
    assert got == [] and unwanted == [3] and later.client == -1  # the first to come was the gone one's
    got, unwanted = claims.match([(3, "agent", True), (4, "agent", True)], taken={3}, now=2)
    assert got == [later] and later.client == 4 and unwanted == []


def test_other_names_and_taken_clients_are_left_alone_and_old_requests_expire():
    claims = Claims()
    mine = slot("mine")
    claims.ask(mine, present=[], until=5)
    got, unwanted = claims.match([(1, "other", True), (2, "mine", False)], taken={2}, now=1)
    assert (got, unwanted, mine.client) == ([], [], -1)
    assert claims.pending
    got, unwanted = claims.match([(3, "mine", True)], taken=set(), now=6)  # past its time
    assert (got, unwanted, mine.client) == ([], [], -1) and not claims.pending
