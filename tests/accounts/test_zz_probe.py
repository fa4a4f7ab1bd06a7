def test_probe(app, login_as):
    a, user = login_as("applicant")
    b = app.test_client()
    assert (a.get("/account").status_code, b.get("/account").status_code, a.get("/account").status_code) == (200, 302, 200)
    r = b.post("/language/fr", data={"next": "/"})
    assert r.status_code == 303, r.status_code
    r = b.get("/")
    assert 'lang="fr"' in r.text
    assert 'lang="ar"' in a.get("/").text
