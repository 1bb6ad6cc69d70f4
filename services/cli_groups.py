"""The ``marquee`` command groups; each ``services/commands/<area>.py`` adds its commands to them."""

from __future__ import annotations

import typer

app = typer.Typer(help="Marquee: multilingual search, personalized rows and ads for a streaming catalog.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Build and inspect the unified catalog and viewing history.", no_args_is_help=True)
model_app = typer.Typer(help="Build the bundled encoder model.", no_args_is_help=True)
index_app = typer.Typer(help="Embed the catalog and build FAISS index versions.", no_args_is_help=True)
train_app = typer.Typer(help="Train models.", no_args_is_help=True)
eval_app = typer.Typer(help="Offline evaluations on real data.", no_args_is_help=True)
ads_app = typer.Typer(help="Ad inventory tools.", no_args_is_help=True)

app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
app.add_typer(index_app, name="index")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.add_typer(ads_app, name="ads")
