"""Spanish rule lexicons (folded text: lower case, accents stripped: "tomé" is "tome", "año" is "ano")."""

SOURCING = {
    "drug": [r"pastillas?", r"pastis", r"perico", r"coca", r"cocaina", r"mota", r"marihuana", r"cristal", r"piedra",
             r"heroina", r"chiva", r"fentanilo", r"fenta", r"clonazepam", r"rivotril", r"tachas?", r"extasis",
             r"anfetaminas?", r"tramadol", r"oxicodona", r"morfina", r"drogas?", r"ketamina", r"hongos",
             r"benzodiacepinas?", r"alprazolam", r"diazepam", r"opioides?"],
    "moud": [r"metadona", r"buprenorfina", r"naltrexona"],
    "filler": [r"unas?", r"unos", r"algo", r"de", r"la", r"las", r"el", r"los", r"mas", r"buena", r"buenas",
               r"\d{1,4}", r"poquita", r"poco", r"tus", r"sus", r"mis"],
    "ask": [
        r"(?:quien|alguien)\s+(?:me\s+)?(?:puede|podria|pueda|sabe\s+donde|sabe\s+quien)\s+(?:conseguir|vender|"
        r"comprar|pasar)", r"(?:quien|alguien)\s+(?:vende|tiene|consigue|me\s+vende|me\s+consigue|me\s+pasa)",
        r"donde\s+(?:puedo\s+|se\s+puede\s+)?(?:consigo|compro|conseguir|comprar|pillo|pillar)",
        r"(?:necesito|quiero|busco)\s+(?:conseguir|comprar|pillar)", r"busco", r"me\s+(?:consigues|vendes|pasas)",
        r"(?:compro|comprar)",
    ],
    "offer": [r"vendo", r"se\s+venden?", r"(?:te|les)\s+(?:consigo|vendo|paso)", r"envios?", r"(?:que|quien)\s+vende"],
    "offer_weak": [r"tengo", r"hay", r"cambio"],
    "offer_after": [r"a\s+la\s+venta", r"disponibles?", r"para\s+vender", r"en\s+venta", r"\d{1,5}\s*(?:pesos|euros|"
                    r"varos|lucas)", r"(?:cada\s+una|c/u|la\s+pieza)"],
    "street": [r"busco\s+(?:a\s+)?(?:alguien\s+)?(?:quien|que)\s+(?:me\s+)?venda", r"busco\s+(?:un\s+dealer|"
               r"un\s+contacto|conecte|camello|dealer)", r"necesito\s+(?:un\s+)?(?:contacto|dealer|conecte|camello)",
               r"envios?\s+(?:a\s+todo|discretos?)", r"(?:quien|alguien)\s+(?:tiene|vende)\s+(?:en|por)"],
    "handoff": [r"escribeme", r"escribanme", r"mandame\s+(?:un\s+)?(?:mensaje|dm|md|privado|whats)", r"md",
                r"(?:por|al)\s+privado", r"contactame", r"(?:nos\s+)?vemos\s+en", r"entrega", r"a\s+domicilio",
                r"paso\s+por\s+ella", r"recoger"],
    "app": [r"wasap", r"whats", r"telegram", r"snap"],
    "app_lead": [r"por", r"en", r"mi"],
    "price": [r"pago\s+(?:en\s+)?(?:efectivo|lo\s+que\s+sea|bien)", r"\d{1,5}\s*(?:pesos|euros|varos|lucas)",
              r"en\s+efectivo", r"(?:cada\s+una|c/u|la\s+pieza)", r"pago\s+bien", r"precio"],
    "quantity": [r"\d{1,4}\s*(?:gramos|gr|onzas?)", r"un\s+(?:gramo|grapa|globo)"],
    "diversion": [r"sin\s+receta", r"(?:tu|su)\s+receta", r"recetas?\s+falsas?", r"(?:me\s+vendes|vendeme)\s+(?:tus|sus)"],
    "safe": [r"naloxona", r"narcan", r"tiras\s+(?:reactivas|de\s+prueba)", r"tratamiento", r"clinica\s+de\s+metadona",
             r"prueba\s+de\s+drogas", r"centro\s+de\s+rehabilitacion"],
    "past": [r"antes\s+(?:vendia|compraba|consumia)", r"hace\s+(?:anos|meses)", r"cuando\s+(?:consumia|vendia|era)",
             r"solia", r"(?:vendi|compre)\b"],
    "present": [r"ahora", r"hoy", r"esta\s+noche", r"otra\s+vez", r"todavia"],
    "negation": [r"no", r"nunca", r"ya\s+no", r"deje\s+de", r"dejo\s+de"],
    "third_party": [r"(?:el|ella|ellos|ellas|mi\s+\w{2,15}|su\s+\w{2,15})\s+(?:esta\s+|sigue\s+|siempre\s+)?"],
}

ABUSE = {
    "target": [r"tu", r"te", r"ti", r"tus", r"eres", r"usted", r"ustedes", r"vos", r"contigo", r"callate"],
    "insult": [r"idiotas?", r"estupid[oa]s?", r"imbeciles?", r"imbecil", r"pendej[oa]s?", r"inutil(?:es)?",
               r"basura", r"put[oa]s?", r"perra", r"borrach[oa]s?", r"drogadict[oa]s?", r"yonquis?", r"tecat[oa]s?",
               r"malparid[oa]s?", r"escoria", r"pinche", r"mierda", r"fracasad[oa]s?", r"asqueros[oa]s?",
               r"callate", r"cabr[oó]n", r"gilipollas", r"mentiros[oa]s?", r"lacra"],
    "self": [r"(?:soy|era|me\s+siento|me\s+sentia|me\s+llamo\s+a\s+mi\s+mismo)\s+(?:un\s+|una\s+|tan\s+|muy\s+){0,2}"],
    "negation": [r"no\s+eres", r"no\s+es", r"nunca", r"no\s+sos"],
    "harassment": [r"matate", r"ojala\s+(?:te\s+mueras|recaigas|te\s+mueras)", r"nadie\s+te\s+quiere(?:\s+aqui)?",
                   r"deberias\s+(?:morirte|matarte|recaer)", r"vete\s+a\s+morir", r"largate"],
    "group": [r"(?:los\s+)?(?:drogadictos|adictos|borrachos|yonquis|tecatos)\s+son\s+(?:todos\s+)?(?:basura|escoria|"
              r"lacras|animales|una\s+plaga)"],
    "threat": [r"te\s+voy\s+a\s+(?:matar|partir|romper|encontrar|golpear|madrear|buscar)", r"se\s+donde\s+vives",
               r"te\s+(?:mato|parto|rompo)", r"cuidate\s+la\s+espalda"],
}

PRIVACY = {
    # Spanish addresses put the street type first and the number after the name ("Calle Luna 12").
    "street_prefix": [r"calle", r"c/", r"avenida", r"av\.?", r"avda\.?", r"paseo", r"plaza", r"pza\.?", r"camino",
                      r"carrera", r"cra\.?", r"calzada", r"privada", r"colonia", r"col\."],
    "unit": [r"piso", r"depto\.?", r"departamento", r"dpto\.?", r"interior", r"int\.?", r"puerta"],
    "relation": [r"padrino", r"madrina", r"ahijad[oa]", r"ex", r"espos[oa]", r"novi[oa]", r"pareja", r"jefe", r"jefa",
                 r"vecin[oa]", r"casero", r"dealer", r"terapeuta", r"doctora?", r"medic[oa]", r"hij[oa]",
                 r"herman[oa]", r"mama", r"papa", r"madre", r"padre", r"prim[oa]", r"amig[oa]", r"companer[oa]",
                 r"consejer[oa]"],
    "possessive": [r"mi", r"su", r"tu", r"nuestro", r"nuestra"],
    "naming": [r"se\s+llama", r"llamad[oa]", r"de\s+nombre"],
    "residence": [r"mi\s+(?:direccion|casa|depa|departamento|cuarto)", r"vivo\s+en", r"estoy\s+viviendo", r"vive\s+en",
                  r"su\s+(?:direccion|casa|departamento)", r"visitenme", r"buscame\s+en", r"ven(?:gan)?\s+a"],
    "locator": [r"trabaja\s+en", r"vive\s+en", r"su\s+(?:direccion|numero|telefono|casa|trabajo|coche|carro)"],
    "handle_lead": [r"(?:mi|su)\s+(?:insta|ig|snap|telegram|tiktok|face|facebook|whats|wasap)(?:\s+es)?",
                    r"(?:agregame|buscame|sigueme|escribeme)\s+(?:en|por)\s+(?:insta|ig|snap|telegram|tiktok|face|"
                    r"facebook|whats|wasap)"],
    "not_names": [r"dios", r"aa", r"na", r"hoy", r"gracias", r"lunes", r"martes", r"miercoles", r"jueves", r"viernes",
                  r"sabado", r"domingo", r"enero", r"febrero", r"marzo", r"abril", r"mayo", r"junio", r"julio",
                  r"agosto", r"septiembre", r"octubre", r"noviembre", r"diciembre", r"el", r"la", r"los", r"las",
                  r"un", r"una", r"y", r"pero", r"yo", r"mi", r"su", r"de", r"en", r"con"],
}
