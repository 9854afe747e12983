from dizions_async import Query


def test_documented_example_compiles() -> None:
    assert Query("clients").filter(religion=[1, 3, 10], ethnicity=1).path == (
        "/v2/clients/religion/1;3;10/ethnicity/1"
    )
