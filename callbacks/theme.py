"""Light/dark switch: Bootstrap colour mode on <html>; figures follow via their callbacks."""

from dash import Input, Output, clientside_callback

clientside_callback(
    """
    function(dark) {
        document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
        return dark ? "dark" : "light";
    }
    """,
    Output("theme", "data"),
    Input("theme-switch", "value"),
)
