"""Light/dark switch: Bootstrap colour mode on <html>; figures follow via their callbacks."""

from dash import Input, Output, clientside_callback

from layouts import ids

clientside_callback(
    """
    function(dark) {
        document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
        return dark ? "dark" : "light";
    }
    """,
    Output(ids.THEME, "data"),
    Input(ids.THEME_SWITCH, "value"),
)
