"""Natural-language title search: request types and errors, the catalog view, lexical and dense
retrieval, fusion, the people gazetteer, the engine and its offline evaluation (a peer of ranking/ and ads/)."""
