"""Realistic multi-turn conversations used by the serving benchmark (Spanish and English)."""

CONVERSATIONS = [
    ["hola buenas", "como saco mi dui por primera vez", "y cuanto cuesta renovarlo",
     "ocupo la partida de nacimiento tambien", "gracias"],
    ["hello", "i just got deported, what happens now", "where can i find a job",
     "can i get certified as an electrician", "thanks"],
    ["buenas tardes", "ando buscando chamba", "quiero poner un negocio", "vivo en soyapango",
     "cual es la oficina que me atiende", "va pues gracias"],
    ["hi", "english please", "donde puedo ir al doctor", "how does doctorsv work", "bye"],
    ["hola", "me siento muy triste desde que regrese", "mis hijos no se adaptan", "gracias"],
    ["todavia estoy en estados unidos", "que papeles debo preparar antes de regresar",
     "y que pasa cuando llego al aeropuerto", "cuanto cuesta el pasaporte", "ok"],
    ["hey", "which office helps returnees in mejicanos", "what about zacatecoluca",
     "do you keep my data", "ok thanks"],
    ["hola", "estoy embarazada, donde me controlo", "menu", "/ask_health", "gracias"],
]
