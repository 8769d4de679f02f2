wit_bindgen::generate!({
    inline: "
        package runspec:plugin@0.2.0;
        interface host {
            log: func(message: string);
        }
        world step {
            import host;
            export run: func(args: list<string>) -> result<string, string>;
        }
    ",
});

struct Future;

impl Guest for Future {
    fn run(_args: Vec<String>) -> Result<String, String> {
        runspec::plugin::host::log("from the future");
        Ok("ran".into())
    }
}

export!(Future);
