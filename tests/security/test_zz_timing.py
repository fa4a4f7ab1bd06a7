import pytest
from tests import factories

@pytest.mark.parametrize("i", range(20))
def test_t(app, client, i):
    u = factories.UserFactory()
    a = factories.AssociationFactory(owner=u)
    assert client.get("/").status_code == 200
